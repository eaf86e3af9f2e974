// The module's .NET types: the output value types (statuses, identities, byte quantities), the
// parameter attribute, the error type, and the native gateway (the P/Invoke shim of the library,
// where it is, the request and the response of a call). Compiled by
// Add-Type -OutputAssembly once per module, PowerShell and .NET version and then loaded from the
// cache (module/Private/Types.ps1); the assembly holds no path, so one build serves every install.

using System;
using System.Collections;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.ComponentModel;
using System.Globalization;
using System.Linq;
using System.Management.Automation;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Management.Automation.Language;
using System.Numerics;
using System.Text;
using System.Text.Json;

namespace ImapMigration
{
    /// <summary>Writes a <see cref="TextValue"/> as its text (ConvertTo-Json asks for it).</summary>
    public sealed class TextValueConverter : TypeConverter
    {
        public override bool CanConvertTo(ITypeDescriptorContext context, Type destinationType)
        {
            return destinationType == typeof(string) || base.CanConvertTo(context, destinationType);
        }

        public override object ConvertTo(ITypeDescriptorContext context, CultureInfo culture, object value, Type destinationType)
        {
            if (destinationType == typeof(string) && value != null) { return value.ToString(); }
            return base.ConvertTo(context, culture, value, destinationType);
        }
    }

    /// <summary>
    /// A value that Exchange prints as one piece of text wherever a script meets it: a status, an
    /// identity, a byte quantity. ToString() is that text, and so are string interpolation,
    /// Format-Table and Format-List cells, Export-Csv and ConvertTo-Json.
    /// </summary>
    /// <remarks>
    /// It derives from <see cref="Uri"/> for one reason: ConvertTo-Json writes a value of any other
    /// class as a JSON object of its properties (a status would become {"Value":..,"Rank":..}),
    /// while it hands a Uri to the JSON writer as is, which asks <see cref="TextValueConverter"/>
    /// for the string. The base Uri is a relative reference holding the escaped text; nothing reads
    /// its members. The format file prints these values as their text, not as Uri properties, and
    /// the formatting interfaces are implemented again so that "{0}" -f $value (String.Format)
    /// gives the text, not Uri's escaped form.
    /// </remarks>
    [TypeConverter(typeof(TextValueConverter))]
    public abstract class TextValue : Uri, IFormattable, ISpanFormattable
    {
        protected TextValue(string text) : base(Uri.EscapeDataString(text ?? string.Empty), UriKind.Relative) { }

        /// <summary>The text this value prints as.</summary>
        public abstract override string ToString();

        string IFormattable.ToString(string format, IFormatProvider formatProvider) { return ToString(); }

        bool ISpanFormattable.TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format, IFormatProvider provider)
        {
            string text = ToString();
            if (text.Length > destination.Length) { charsWritten = 0; return false; }
            text.AsSpan().CopyTo(destination);
            charsWritten = text.Length;
            return true;
        }

        // Equality is defined by each subclass; Uri's (over the escaped text) must not be used.
        public abstract override bool Equals(object comparand);
        public abstract override int GetHashCode();
    }

    /// <summary>
    /// A status value as Exchange exposes it: scripts read <c>.Value</c> and also compare the
    /// status itself with plain strings (<c>-eq</c>, <c>-in</c>, <c>-like</c>, <c>switch</c>).
    /// Equality with strings is case-insensitive, as PowerShell's is. Ordering follows the
    /// Exchange enum order so <c>Sort-Object Status</c> sorts as it does against Exchange.
    /// </summary>
    public abstract class MigrationStatusValue : TextValue, IComparable, IEquatable<MigrationStatusValue>
    {
        private readonly string _value;

        protected MigrationStatusValue(string value) : base(value)
        {
            _value = value ?? string.Empty;
        }

        /// <summary>The status name, e.g. <c>Synced</c>.</summary>
        public string Value { get { return _value; } }

        protected abstract IList<string> Order { get; }

        /// <summary>Position in the Exchange enum; unknown names sort last.</summary>
        public int Rank
        {
            get { return RankOf(_value); }
        }

        private int RankOf(string name)
        {
            IList<string> order = Order;
            for (int i = 0; i < order.Count; i++)
            {
                if (string.Equals(order[i], name, StringComparison.OrdinalIgnoreCase)) { return i; }
            }
            return int.MaxValue;
        }

        public override string ToString() { return _value; }

        public bool Equals(MigrationStatusValue other)
        {
            return other != null && string.Equals(_value, other._value, StringComparison.OrdinalIgnoreCase);
        }

        public override bool Equals(object obj)
        {
            if (obj == null) { return false; }
            PSObject pso = obj as PSObject;
            if (pso != null) { obj = pso.BaseObject; }
            MigrationStatusValue status = obj as MigrationStatusValue;
            if (status != null) { return Equals(status); }
            string text = obj as string;
            if (text != null) { return string.Equals(_value, text, StringComparison.OrdinalIgnoreCase); }
            if (obj is Enum) { return string.Equals(_value, obj.ToString(), StringComparison.OrdinalIgnoreCase); }
            return false;
        }

        public override int GetHashCode()
        {
            return StringComparer.OrdinalIgnoreCase.GetHashCode(_value);
        }

        public int CompareTo(object obj)
        {
            if (obj == null) { return 1; }
            PSObject pso = obj as PSObject;
            if (pso != null) { obj = pso.BaseObject; }
            string other = obj is MigrationStatusValue ? ((MigrationStatusValue)obj)._value : obj.ToString();
            int byRank = Rank.CompareTo(RankOf(other));
            return byRank != 0 ? byRank : string.Compare(_value, other, StringComparison.OrdinalIgnoreCase);
        }

        /// <summary>Whether <paramref name="name"/> is one of this kind's Exchange names (any case).</summary>
        protected static bool IsKnown(IList<string> names, string name)
        {
            foreach (string n in names)
            {
                if (string.Equals(n, name, StringComparison.OrdinalIgnoreCase)) { return true; }
            }
            return false;
        }
    }

    /// <summary>Batch status (Exchange MigrationBatchStatus).</summary>
    public sealed class MigrationBatchStatus : MigrationStatusValue
    {
        private static readonly string[] Names = {
            "Created", "Syncing", "Stopping", "Stopped", "Completed", "Failed", "Removing", "Synced",
            "IncrementalSyncing", "Completing", "CompletedWithErrors", "SyncedWithErrors", "Corrupted",
            "Waiting", "Starting" };
        public MigrationBatchStatus(string value) : base(value) { }
        protected override IList<string> Order { get { return Names; } }
        /// <summary>The Exchange names, in enum order.</summary>
        public static IList<string> All { get { return Array.AsReadOnly(Names); } }
        public static bool IsDefined(string name) { return IsKnown(Names, name); }
    }

    /// <summary>User status (Exchange MigrationUserStatus).</summary>
    public sealed class MigrationUserStatus : MigrationStatusValue
    {
        private static readonly string[] Names = {
            "Queued", "Syncing", "Failed", "Synced", "IncrementalFailed", "Completing", "Completed",
            "CompletionFailed", "Corrupted", "Provisioning", "ProvisionUpdating", "CompletionSynced",
            "Validating", "IncrementalSyncing", "IncrementalSynced", "CompletedWithWarnings", "Stopped",
            "IncrementalStopped", "Starting", "Stopping", "Removing" };
        public MigrationUserStatus(string value) : base(value) { }
        protected override IList<string> Order { get { return Names; } }
        /// <summary>The Exchange names, in enum order.</summary>
        public static IList<string> All { get { return Array.AsReadOnly(Names); } }
        public static bool IsDefined(string name) { return IsKnown(Names, name); }
    }

    /// <summary>User status summary (Exchange MigrationUserStatusSummary).</summary>
    public sealed class MigrationUserStatusSummary : MigrationStatusValue
    {
        private static readonly string[] Names = { "None", "Active", "Failed", "Synced", "Completed", "Stopped" };
        public MigrationUserStatusSummary(string value) : base(value) { }
        protected override IList<string> Order { get { return Names; } }
        public static IList<string> All { get { return Array.AsReadOnly(Names); } }
        public static bool IsDefined(string name) { return IsKnown(Names, name); }
    }

    /// <summary>Base of the identity objects: prints as <c>Id</c> and equals its string form.</summary>
    public abstract class MigrationObjectId : TextValue, IEquatable<MigrationObjectId>
    {
        protected MigrationObjectId(string id) : base(id) { Id = id ?? string.Empty; }

        public string Id { get; private set; }

        public override string ToString() { return Id; }

        public bool Equals(MigrationObjectId other)
        {
            return other != null && GetType() == other.GetType()
                && string.Equals(Id, other.Id, StringComparison.OrdinalIgnoreCase);
        }

        public override bool Equals(object obj)
        {
            PSObject pso = obj as PSObject;
            if (pso != null) { obj = pso.BaseObject; }
            string text = obj as string;
            if (text != null) { return string.Equals(Id, text, StringComparison.OrdinalIgnoreCase); }
            return Equals(obj as MigrationObjectId);
        }

        public override int GetHashCode() { return StringComparer.OrdinalIgnoreCase.GetHashCode(Id); }

        protected static Guid ParseGuid(string text)
        {
            Guid g;
            return Guid.TryParse(text, out g) ? g : Guid.Empty;
        }
    }

    /// <summary>Identity of a migration batch (Exchange MigrationBatchId).</summary>
    public sealed class MigrationBatchId : MigrationObjectId
    {
        public MigrationBatchId(string id) : this(id, id, null) { }
        public MigrationBatchId(string id, string name, string jobId) : base(id)
        {
            Name = string.IsNullOrEmpty(name) ? Id : name;
            JobId = ParseGuid(jobId);
        }
        public string Name { get; private set; }
        public Guid JobId { get; private set; }
    }

    /// <summary>Identity of a migration endpoint (Exchange MigrationEndpointId).</summary>
    public sealed class MigrationEndpointId : MigrationObjectId
    {
        public MigrationEndpointId(string id) : this(id, null) { }
        public MigrationEndpointId(string id, string guid) : base(id) { Guid = ParseGuid(guid); }
        public Guid Guid { get; private set; }
    }

    /// <summary>Identity of a migration user (Exchange MigrationUserId): the email address.</summary>
    public sealed class MigrationUserId : MigrationObjectId
    {
        public MigrationUserId(string id) : this(id, null) { }
        public MigrationUserId(string id, string jobItemGuid) : base(id) { JobItemGuid = ParseGuid(jobItemGuid); }
        public Guid JobItemGuid { get; private set; }
    }

    /// <summary>
    /// A number of bytes as Exchange's ByteQuantifiedSize shows and offers it: prints as
    /// <c>1.4 GB (1,503,707,494 bytes)</c> (the largest unit of B, KB, MB, GB, TB that the value
    /// reaches, with four significant digits), converts with ToBytes(), ToKB(), ToMB(), ToGB(),
    /// ToTB() (whole units, rounded down), and compares with other sizes and with plain numbers
    /// of bytes (<c>$s.BytesTransferred -gt 1GB</c>).
    /// </summary>
    public sealed class ByteQuantifiedSize : TextValue, IComparable, IEquatable<ByteQuantifiedSize>
    {
        private const ulong KB = 1024UL, MB = KB * 1024UL, GB = MB * 1024UL, TB = GB * 1024UL;
        private readonly ulong _bytes;

        public ByteQuantifiedSize(ulong bytes) : base(Format(bytes)) { _bytes = bytes; }

        // PowerShell converts a number to a size through the constructor taking its exact type
        // (`$size -gt 1GB` compares with an Int32); a negative count is 0.
        public ByteQuantifiedSize(long bytes) : this(bytes < 0 ? 0UL : (ulong)bytes) { }
        public ByteQuantifiedSize(int bytes) : this((long)bytes) { }
        public ByteQuantifiedSize(double bytes) : this(bytes <= 0 || double.IsNaN(bytes) ? 0UL : (ulong)Math.Floor(bytes)) { }

        public static ByteQuantifiedSize FromBytes(ulong bytes) { return new ByteQuantifiedSize(bytes); }
        public static ByteQuantifiedSize FromKB(ulong kb) { return new ByteQuantifiedSize(checked(kb * KB)); }
        public static ByteQuantifiedSize FromMB(ulong mb) { return new ByteQuantifiedSize(checked(mb * MB)); }
        public static ByteQuantifiedSize FromGB(ulong gb) { return new ByteQuantifiedSize(checked(gb * GB)); }

        public ulong ToBytes() { return _bytes; }
        public ulong ToKB() { return _bytes / KB; }
        public ulong ToMB() { return _bytes / MB; }
        public ulong ToGB() { return _bytes / GB; }
        public ulong ToTB() { return _bytes / TB; }

        public override string ToString() { return Format(_bytes); }

        /// <summary>Exchange's text form: value and unit, then the exact count of bytes.</summary>
        public static string Format(ulong bytes)
        {
            string count = bytes.ToString("N0", CultureInfo.InvariantCulture);
            if (bytes < KB) { return bytes.ToString(CultureInfo.InvariantCulture) + " B (" + count + " bytes)"; }
            ulong unit; string name;
            if (bytes >= TB) { unit = TB; name = "TB"; }
            else if (bytes >= GB) { unit = GB; name = "GB"; }
            else if (bytes >= MB) { unit = MB; name = "MB"; }
            else { unit = KB; name = "KB"; }
            double value = (double)bytes / unit;
            int integerDigits = value < 1 ? 1 : (int)Math.Floor(Math.Log10(value)) + 1;
            double rounded = Math.Round(value, Math.Max(0, 4 - integerDigits), MidpointRounding.AwayFromZero);
            return rounded.ToString("0.###", CultureInfo.InvariantCulture) + " " + name + " (" + count + " bytes)";
        }

        /// <summary>
        /// Reads "12345", "10 MB", "1.5 GB" or the printed form "1.4 GB (1,503,707,494 bytes)"
        /// (then the exact count counts). PowerShell uses it to convert strings to sizes.
        /// </summary>
        public static ByteQuantifiedSize Parse(string text)
        {
            if (text == null) { throw new ArgumentNullException("text"); }
            string t = text.Trim();
            int open = t.IndexOf('(');
            if (open >= 0 && t.EndsWith("bytes)", StringComparison.OrdinalIgnoreCase))
            {
                string exact = t.Substring(open + 1, t.Length - open - 1 - "bytes)".Length).Trim();
                return new ByteQuantifiedSize(ulong.Parse(exact, NumberStyles.AllowThousands, CultureInfo.InvariantCulture));
            }
            string[] units = { "TB", "GB", "MB", "KB", "B" };
            ulong[] factors = { TB, GB, MB, KB, 1UL };
            for (int i = 0; i < units.Length; i++)
            {
                if (t.EndsWith(units[i], StringComparison.OrdinalIgnoreCase))
                {
                    string number = t.Substring(0, t.Length - units[i].Length).Trim();
                    decimal d = decimal.Parse(number, NumberStyles.Number, CultureInfo.InvariantCulture);
                    return new ByteQuantifiedSize((ulong)decimal.Floor(d * factors[i]));
                }
            }
            return new ByteQuantifiedSize(ulong.Parse(t, NumberStyles.AllowThousands, CultureInfo.InvariantCulture));
        }

        private static bool TryBytes(object obj, out decimal bytes)
        {
            bytes = 0;
            PSObject pso = obj as PSObject;
            if (pso != null) { obj = pso.BaseObject; }
            ByteQuantifiedSize size = obj as ByteQuantifiedSize;
            if (size != null) { bytes = size._bytes; return true; }
            if (obj is string)
            {
                try { bytes = Parse((string)obj)._bytes; return true; }
                catch (FormatException) { return false; }
                catch (OverflowException) { return false; }
            }
            IConvertible number = obj as IConvertible;
            if (number == null) { return false; }
            switch (number.GetTypeCode())
            {
                case TypeCode.Byte: case TypeCode.SByte: case TypeCode.Int16: case TypeCode.UInt16:
                case TypeCode.Int32: case TypeCode.UInt32: case TypeCode.Int64: case TypeCode.UInt64:
                case TypeCode.Single: case TypeCode.Double: case TypeCode.Decimal:
                    bytes = number.ToDecimal(CultureInfo.InvariantCulture);
                    return true;
                default:
                    return false;
            }
        }

        public int CompareTo(object obj)
        {
            if (obj == null) { return 1; }
            decimal other;
            if (!TryBytes(obj, out other)) { throw new ArgumentException("A byte quantity compares with another byte quantity or a number of bytes.", "obj"); }
            return ((decimal)_bytes).CompareTo(other);
        }

        public bool Equals(ByteQuantifiedSize other) { return other != null && other._bytes == _bytes; }

        public override bool Equals(object obj)
        {
            decimal other;
            return obj != null && TryBytes(obj, out other) && other == _bytes;
        }

        public override int GetHashCode() { return _bytes.GetHashCode(); }
    }

    /// <summary>
    /// A multi-valued property (e.g. NotificationEmails, Reports, SkippedItems): a list scripts
    /// index, count and enumerate, that prints its items as text joined by ", " where PowerShell
    /// would print a bare array's type name (Export-Csv cells).
    /// </summary>
    public sealed class MultiValuedProperty : Collection<object>
    {
        public MultiValuedProperty() { }
        public MultiValuedProperty(IEnumerable items)
        {
            if (items == null) { return; }
            foreach (object item in items) { Add(item); }
        }

        public override string ToString()
        {
            StringBuilder text = new StringBuilder();
            foreach (object item in this)
            {
                if (text.Length > 0) { text.Append(", "); }
                text.Append(item == null ? string.Empty : LanguagePrimitives.ConvertTo<string>(item));
            }
            return text.ToString();
        }
    }

    /// <summary>
    /// Makes <c>$null</c> mean "not given" for an optional parameter whatever its type (a
    /// [datetime], [bool] or [int] cannot hold $null; a [string] turns it into ""). For a date or
    /// time span parameter an empty string means "not given" too. The parameter is bound with a
    /// placeholder that passes its type and validation, and its name is recorded in the function's
    /// scope; ImapMigration.Invocation.Initialize then removes it from $PSBoundParameters and restores the
    /// declared default.
    /// </summary>
    [AttributeUsage(AttributeTargets.Field | AttributeTargets.Property, AllowMultiple = false)]
    public sealed class NotGivenWhenNullAttribute : ArgumentTransformationAttribute
    {
        /// <summary>Name of the function-scope variable that lists the parameters not given.</summary>
        public const string VariableName = "ImapMigrationNotGivenParameters";

        public NotGivenWhenNullAttribute(string parameterName)
        {
            ParameterName = parameterName;
        }

        public string ParameterName { get; private set; }

        public override bool TransformNullOptionalParameters { get { return true; } }

        public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
        {
            object value = inputData is PSObject ? ((PSObject)inputData).BaseObject : inputData;
            ParameterMetadata parameter = FindParameter(engineIntrinsics);
            Type type = parameter == null ? typeof(object) : parameter.ParameterType;
            Type underlying = Nullable.GetUnderlyingType(type) ?? type;
            bool dateLike = underlying == typeof(DateTime) || underlying == typeof(TimeSpan);
            bool notGiven = value == null
                || (dateLike && value is string && ((string)value).Trim().Length == 0);
            if (!notGiven) { return inputData; }

            PSVariableIntrinsics variables = engineIntrinsics.SessionState.PSVariable;
            HashSet<string> names = variables.GetValue(VariableName) as HashSet<string>;
            if (names == null)
            {
                names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
                variables.Set(VariableName, names);
            }
            names.Add(ParameterName);
            return Placeholder(parameter, underlying);
        }

        private ParameterMetadata FindParameter(EngineIntrinsics engineIntrinsics)
        {
            InvocationInfo invocation = engineIntrinsics.SessionState.PSVariable.GetValue("MyInvocation") as InvocationInfo;
            if (invocation == null || invocation.MyCommand == null) { return null; }
            ParameterMetadata parameter;
            return invocation.MyCommand.Parameters.TryGetValue(ParameterName, out parameter) ? parameter : null;
        }

        // A value the binder accepts for the parameter; it is thrown away afterwards.
        private static object Placeholder(ParameterMetadata parameter, Type type)
        {
            if (parameter != null)
            {
                foreach (Attribute a in parameter.Attributes)
                {
                    ValidateSetAttribute set = a as ValidateSetAttribute;
                    if (set != null && set.ValidValues.Count > 0) { return set.ValidValues[0]; }
                }
            }
            if (type == typeof(string)) { return string.Empty; }
            if (type.IsValueType) { return Activator.CreateInstance(type); }
            return null;
        }
    }

    /// <summary>
    /// The JSON of the native calls, without the ConvertTo-Json / ConvertFrom-Json cmdlets (their
    /// first use in a process costs tens of milliseconds, which every admin's first cmdlet paid).
    /// Reads as ConvertFrom-Json -DateKind String does: objects as PSCustomObjects with their
    /// properties in order, arrays as object[], integers as Int64 (BigInteger beyond), other
    /// numbers as Double, dates left as strings.
    /// </summary>
    public static class Json
    {
        private const int MaxDepth = 20;

        /// <summary>A PowerShell value (hashtables, lists, PSCustomObjects, scalars) as compact JSON.</summary>
        public static string Serialize(object value)
        {
            var buffer = new System.IO.MemoryStream();
            using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = false, SkipValidation = false }))
            {
                Write(w, value, 0);
            }
            return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
        }

        private static void Write(Utf8JsonWriter w, object value, int depth)
        {
            PSObject pso = value as PSObject;
            if (pso != null)
            {
                if (pso.BaseObject is PSCustomObject) { WriteProperties(w, pso, depth); return; }
                value = pso.BaseObject;
            }
            if (value == null || value is DBNull) { w.WriteNullValue(); return; }
            if (depth > MaxDepth) { w.WriteStringValue(value.ToString()); return; }
            switch (value)
            {
                case string s: w.WriteStringValue(s); return;
                case char c: w.WriteStringValue(c.ToString()); return;
                case bool b: w.WriteBooleanValue(b); return;
                case Enum e: w.WriteNumberValue(Convert.ToInt64(e, CultureInfo.InvariantCulture)); return;
                case byte n: w.WriteNumberValue(n); return;
                case sbyte n: w.WriteNumberValue(n); return;
                case short n: w.WriteNumberValue(n); return;
                case ushort n: w.WriteNumberValue(n); return;
                case int n: w.WriteNumberValue(n); return;
                case uint n: w.WriteNumberValue(n); return;
                case long n: w.WriteNumberValue(n); return;
                case ulong n: w.WriteNumberValue(n); return;
                case float n: w.WriteNumberValue(n); return;
                case double n: w.WriteNumberValue(n); return;
                case decimal n: w.WriteNumberValue(n); return;
                case BigInteger n: w.WriteRawValue(n.ToString(CultureInfo.InvariantCulture)); return;
                case Guid g: w.WriteStringValue(g.ToString()); return;
                case DateTime d: w.WriteStringValue(d.ToString("o", CultureInfo.InvariantCulture)); return;
                case DateTimeOffset d: w.WriteStringValue(d.ToString("o", CultureInfo.InvariantCulture)); return;
                case TextValue t: w.WriteStringValue(t.ToString()); return;
                case Uri u: w.WriteStringValue(u.OriginalString); return;
                case IDictionary dict:
                    w.WriteStartObject();
                    foreach (DictionaryEntry entry in dict)
                    {
                        w.WritePropertyName(Convert.ToString(entry.Key, CultureInfo.InvariantCulture));
                        Write(w, entry.Value, depth + 1);
                    }
                    w.WriteEndObject();
                    return;
                case IEnumerable list:
                    w.WriteStartArray();
                    foreach (object item in list) { Write(w, item, depth + 1); }
                    w.WriteEndArray();
                    return;
            }
            WriteProperties(w, PSObject.AsPSObject(value), depth);
        }

        private static void WriteProperties(Utf8JsonWriter w, PSObject pso, int depth)
        {
            w.WriteStartObject();
            foreach (PSPropertyInfo p in pso.Properties)
            {
                if (!p.IsGettable) { continue; }
                object v;
                try { v = p.Value; } catch (GetValueException) { continue; }
                w.WritePropertyName(p.Name);
                Write(w, v, depth + 1);
            }
            w.WriteEndObject();
        }

        /// <summary>JSON text as PowerShell values, the way ConvertFrom-Json -DateKind String reads it.</summary>
        public static object Parse(string json)
        {
            using (JsonDocument doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 128 }))
            {
                return Read(doc.RootElement);
            }
        }

        private static object Read(JsonElement e)
        {
            switch (e.ValueKind)
            {
                case JsonValueKind.Object:
                    var o = new PSObject();
                    foreach (JsonProperty p in e.EnumerateObject())
                    {
                        o.Properties.Add(new PSNoteProperty(p.Name, Read(p.Value)));
                    }
                    return o;
                case JsonValueKind.Array:
                    var items = new object[e.GetArrayLength()];
                    int i = 0;
                    foreach (JsonElement item in e.EnumerateArray()) { items[i++] = Read(item); }
                    return items;
                case JsonValueKind.String: return e.GetString();
                case JsonValueKind.Number:
                    long l;
                    if (e.TryGetInt64(out l)) { return l; }
                    string raw = e.GetRawText();
                    if (raw.IndexOfAny(new[] { '.', 'e', 'E' }) < 0) { return BigInteger.Parse(raw, CultureInfo.InvariantCulture); }
                    return e.GetDouble();
                case JsonValueKind.True: return true;
                case JsonValueKind.False: return false;
                default: return null;
            }
        }
    }

    /// <summary>
    /// What every public cmdlet does first (docs/compatibility.md §2.5, §10), called from the
    /// cmdlet's own scope with its $PSCmdlet and $ExecutionContext.SessionState: takes the
    /// caller's preference variables, and makes $null mean "not given".
    /// </summary>
    /// <remarks>
    /// A script module's functions do not see the preference variables of the script that calls
    /// them, so a script's <c>$ErrorActionPreference = 'Stop'</c> would not make our errors
    /// terminating, as it does with Exchange's cmdlets. The caller's ErrorAction, Warning,
    /// Information, Verbose, Debug and Progress preferences are copied into the cmdlet's scope,
    /// unless the matching common parameter was given. Then every parameter bound from $null
    /// (recorded by <see cref="NotGivenWhenNullAttribute"/>, or bound as $null), and every switch
    /// bound to $false, is removed from $PSBoundParameters and its variable gets the declared
    /// default again. The common parameters are left alone, and so are the parameters in
    /// <c>keep</c>, whose $null asks to clear a setting.
    /// </remarks>
    public static class Invocation
    {
        private static readonly string[][] Preferences =
        {
            new[] { "ErrorActionPreference", "ErrorAction" },
            new[] { "WarningPreference", "WarningAction" },
            new[] { "InformationPreference", "InformationAction" },
            new[] { "VerbosePreference", "Verbose" },
            new[] { "DebugPreference", "Debug" },
            new[] { "ProgressPreference", null },
        };

        private static readonly HashSet<string> Common = new HashSet<string>(
            PSCmdlet.CommonParameters.Concat(PSCmdlet.OptionalCommonParameters), StringComparer.OrdinalIgnoreCase);

        public static void Initialize(PSCmdlet cmdlet, SessionState scope, string[] keep)
        {
            IDictionary<string, object> bound = cmdlet.MyInvocation.BoundParameters;
            PSVariableIntrinsics callerVariables = cmdlet.SessionState.PSVariable;
            foreach (string[] pair in Preferences)
            {
                if (pair[1] != null && bound.ContainsKey(pair[1])) { continue; }
                object value = callerVariables.GetValue(pair[0]);
                if (value == null) { continue; }
                try { scope.PSVariable.Set(pair[0], value); }
                catch (RuntimeException) { }
            }

            // The names the attribute recorded while this cmdlet's parameters were bound; taken
            // out of the scope so that a cmdlet this one calls never reads them.
            HashSet<string> recorded = scope.PSVariable.GetValue(NotGivenWhenNullAttribute.VariableName) as HashSet<string>;
            if (recorded != null) { scope.PSVariable.Remove(NotGivenWhenNullAttribute.VariableName); }
            var keepSet = new HashSet<string>(keep ?? new string[0], StringComparer.OrdinalIgnoreCase);
            var notGiven = new List<string>();
            foreach (KeyValuePair<string, object> kv in bound)
            {
                if (Common.Contains(kv.Key) || keepSet.Contains(kv.Key)) { continue; }
                object value = kv.Value is PSObject ? ((PSObject)kv.Value).BaseObject : kv.Value;
                if ((recorded != null && recorded.Contains(kv.Key)) || value == null ||
                    (value is SwitchParameter && !((SwitchParameter)value).IsPresent))
                {
                    notGiven.Add(kv.Key);
                }
            }
            if (notGiven.Count == 0) { return; }

            ScriptBlockAst body = null;
            var function = cmdlet.MyInvocation.MyCommand as FunctionInfo;
            if (function != null && function.ScriptBlock != null)
            {
                Ast ast = function.ScriptBlock.Ast;
                var definition = ast as FunctionDefinitionAst;
                body = definition != null ? definition.Body : ast as ScriptBlockAst;
            }
            foreach (string name in notGiven)
            {
                bound.Remove(name);
                object defaultValue = null;
                if (body != null && body.ParamBlock != null)
                {
                    foreach (ParameterAst p in body.ParamBlock.Parameters)
                    {
                        if (!string.Equals(p.Name.VariablePath.UserPath, name, StringComparison.OrdinalIgnoreCase)) { continue; }
                        if (p.DefaultValue != null)
                        {
                            try { defaultValue = p.DefaultValue.SafeGetValue(); } catch (InvalidOperationException) { defaultValue = null; }
                        }
                        break;
                    }
                }
                // The variable keeps no type or validation: a plain variable, as an unbound
                // parameter without a default reads. (A parameter of a compiled function lives in
                // a slot that cannot be removed, so its constraints go instead.)
                PSVariable existing = scope.PSVariable.Get(name);
                if (existing != null)
                {
                    existing.Attributes.Clear();
                    existing.Value = defaultValue;
                }
                else
                {
                    scope.PSVariable.Set(new PSVariable(name, defaultValue));
                }
            }
        }
    }

    /// <summary>Identities as the engine resolves them (ConvertTo-MigIdentityString).</summary>
    public static class Identity
    {
        /// <summary>
        /// Whatever an admin passes as an identity as the string the engine resolves (name,
        /// email or GUID): strings, GUIDs and other values, our identity objects, our output
        /// objects (their Identity), and the hashtables admins return from Pester mocks
        /// (@{ Identity = 'X' }, @{ Id = 'X' }). Only property names are used, never .NET types;
        /// at most four levels are followed.
        /// </summary>
        public static string ToIdentityString(object inputObject)
        {
            object value = inputObject;
            for (int depth = 0; depth < 4 && value != null; depth++)
            {
                PSObject pso = value as PSObject;
                if (pso != null && !(pso.BaseObject is PSCustomObject)) { value = pso.BaseObject; }
                if (value is string) { return (string)value; }
                if (value is ValueType) { return value.ToString(); }
                MigrationObjectId id = value as MigrationObjectId;
                if (id != null) { return id.Id; }
                IDictionary dict = value as IDictionary;
                if (dict != null)
                {
                    object next = null;
                    foreach (string key in new[] { "Identity", "Id", "Name" })
                    {
                        if (dict.Contains(key)) { next = dict[key]; break; }
                    }
                    if (next == null) { return LanguagePrimitives.ConvertTo<string>(dict); }
                    value = next;
                    continue;
                }
                PSMemberInfoCollection<PSPropertyInfo> props = PSObject.AsPSObject(value).Properties;
                PSPropertyInfo prop = props["Identity"] ?? props["Id"] ?? props["Name"];
                if (prop == null) { return value.ToString(); }
                value = prop.Value;
            }
            return value == null ? null : LanguagePrimitives.ConvertTo<string>(value);
        }
    }

    /// <summary>An error the native engine reported, with its stable code and details.</summary>
    public sealed class MigrationException : Exception
    {
        public MigrationException(string code, string message, object details) : base(message)
        {
            Code = code;
            Details = details;
        }
        public string Code { get; private set; }
        public object Details { get; private set; }
    }

    /// <summary>
    /// The native library's C ABI (docs/design.md, "The C ABI"). The entry points name a logical
    /// library that <see cref="Bind"/> maps to one file: the first binding in a process stays
    /// (a loaded native library cannot be swapped), later ones are reported as not taken.
    /// </summary>
    public static class Native
    {
        private const string Library = "imapmigration";
        private static readonly object Gate = new object();
        private static string libraryPath;

        /// <summary>The library file the entry points are bound to; null before <see cref="Bind"/>.</summary>
        public static string LibraryPath { get { return libraryPath; } }

        /// <summary>
        /// Binds the entry points to the library at <paramref name="path"/> (an absolute path; it
        /// is loaded on the first call, not here). False when an earlier binding stays in use.
        /// </summary>
        public static bool Bind(string path)
        {
            lock (Gate)
            {
                if (libraryPath != null) { return false; }
                NativeLibrary.SetDllImportResolver(typeof(Native).Assembly, Resolve);
                libraryPath = path;
                return true;
            }
        }

        private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
        {
            string path = libraryPath;
            if (name != Library || path == null) { return IntPtr.Zero; }
            return NativeLibrary.Load(path);
        }

        // mig_call returns IntPtr so that the marshaller never frees Rust memory with the wrong
        // allocator; mig_free gives it back.
        [DllImport(Library, EntryPoint = "mig_call", CallingConvention = CallingConvention.Cdecl)]
        private static extern IntPtr mig_call([MarshalAs(UnmanagedType.LPUTF8Str)] string request);

        [DllImport(Library, EntryPoint = "mig_free", CallingConvention = CallingConvention.Cdecl)]
        private static extern void mig_free(IntPtr response);

        [DllImport(Library, EntryPoint = "mig_abi_version", CallingConvention = CallingConvention.Cdecl)]
        private static extern uint mig_abi_version();

        /// <summary>The ABI version the library speaks (mig_abi_version).</summary>
        public static uint AbiVersion() { return mig_abi_version(); }

        /// <summary>Sends one JSON request through mig_call and returns the JSON response.</summary>
        public static string Call(string request)
        {
            IntPtr p = mig_call(request);
            try { return Marshal.PtrToStringUTF8(p); }
            finally { mig_free(p); }
        }

        // ---- The first call's path, in compiled code --------------------------------------
        // What Invoke-MigNative does around the transport (docs/design.md, "The C ABI"): where the
        // library is, binding it and checking its ABI, the request and the response. PowerShell
        // runs a script function slowly the first time, and every admin's first cmdlet paid for
        // each of these steps; Native.ps1 keeps the functions as thin wrappers (and the seams the
        // tests mock: Invoke-MigNative, Invoke-MigNativeCall).

        /// <summary>Operations that may need the background worker: they carry "workerPath".</summary>
        /// <remarks>
        /// Every operation that reads or changes a batch carries it too: the library starts a
        /// worker when a batch needs one and the last worker is gone, and says so in the
        /// response's warnings.
        /// </remarks>
        private static readonly HashSet<string> WorkerOperationSet = new HashSet<string>(new[]
        {
            "batch.new", "batch.get", "batch.set", "batch.start", "batch.stop", "batch.complete", "batch.remove",
            "user.get", "user.statistics", "user.set", "user.start", "user.stop", "user.remove", "statistics.get",
            "worker.ensure",
        }, StringComparer.OrdinalIgnoreCase);

        /// <summary>The operations that carry "workerPath".</summary>
        public static IList<string> WorkerOperations { get { return WorkerOperationSet.ToList().AsReadOnly(); } }

        /// <summary>The .NET runtime identifier naming the runtimes/&lt;rid&gt;/native folder (linux-x64, osx-arm64, win-x64...).</summary>
        public static string RuntimeIdentifier()
        {
            string os = RuntimeInformation.IsOSPlatform(OSPlatform.Windows) ? "win"
                : RuntimeInformation.IsOSPlatform(OSPlatform.OSX) ? "osx" : "linux";
            return os + "-" + RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant();
        }

        /// <summary>
        /// Where the native library and the worker binary are: IMAPMIGRATION_NATIVE_DIR, else
        /// runtimes/&lt;rid&gt;/native beside <paramref name="privateDirectory"/> (module/Private).
        /// </summary>
        public static NativeLayout Layout(string privateDirectory)
        {
            string rid = RuntimeIdentifier();
            string dir = Environment.GetEnvironmentVariable("IMAPMIGRATION_NATIVE_DIR");
            if (string.IsNullOrEmpty(dir)) { dir = System.IO.Path.Combine(privateDirectory, "..", "runtimes", rid, "native"); }
            dir = System.IO.Path.GetFullPath(dir);
            string library, worker;
            if (rid.StartsWith("win-", StringComparison.Ordinal)) { library = "imapmigration.dll"; worker = "imapmigration.exe"; }
            else if (rid.StartsWith("osx-", StringComparison.Ordinal)) { library = "libimapmigration.dylib"; worker = "imapmigration"; }
            else { library = "libimapmigration.so"; worker = "imapmigration"; }
            return new NativeLayout(rid, dir, System.IO.Path.Combine(dir, library), System.IO.Path.Combine(dir, worker));
        }

        /// <summary>
        /// Gives the worker binary back its executable bits where they are lost (Unix): a .nupkg
        /// is a zip file, which keeps no file modes, so Install-PSResource unpacks the worker as a
        /// plain file. Execute is granted to whoever may read it. Returns why that was not
        /// possible (an install owned by another user; the worker's start then reports the path
        /// and the permission error), else null.
        /// </summary>
        public static string MakeExecutable(string path)
        {
            if (OperatingSystem.IsWindows() || !System.IO.File.Exists(path)) { return null; }
            System.IO.UnixFileMode mode = System.IO.File.GetUnixFileMode(path);
            System.IO.UnixFileMode want = mode;
            if ((mode & System.IO.UnixFileMode.UserRead) != 0) { want |= System.IO.UnixFileMode.UserExecute; }
            if ((mode & System.IO.UnixFileMode.GroupRead) != 0) { want |= System.IO.UnixFileMode.GroupExecute; }
            if ((mode & System.IO.UnixFileMode.OtherRead) != 0) { want |= System.IO.UnixFileMode.OtherExecute; }
            if (want == mode) { return null; }
            try { System.IO.File.SetUnixFileMode(path, want); return null; }
            catch (Exception e)
            {
                return "ImapMigration: cannot make the worker '" + path + "' executable: " + e.Message;
            }
        }

        /// <summary>
        /// Binds the entry points to the library of <see cref="Layout"/> on first use, makes the
        /// worker executable and checks the library's ABI version. Throws a
        /// <see cref="MigrationException"/> (NativeLibraryNotFound, VersionMismatch) when the
        /// library is missing or speaks another ABI. Returns verbose notes (possibly none).
        /// </summary>
        public static string[] Initialize(string privateDirectory, uint expectedAbiVersion)
        {
            var notes = new List<string>();
            NativeLayout layout = Layout(privateDirectory);
            if (LibraryPath == null)
            {
                if (!System.IO.File.Exists(layout.LibraryPath))
                {
                    throw new MigrationException("NativeLibraryNotFound",
                        "The ImapMigration native library was not found at '" + layout.LibraryPath + "'. Build it (scripts/build) or set IMAPMIGRATION_NATIVE_DIR to the folder that holds it.",
                        layout.LibraryPath);
                }
                Bind(layout.LibraryPath);
                string note = MakeExecutable(layout.WorkerPath);
                if (note != null) { notes.Add(note); }
            }
            if (!string.Equals(LibraryPath, layout.LibraryPath, StringComparison.OrdinalIgnoreCase))
            {
                notes.Add("The native library was already loaded from '" + LibraryPath + "' in this process; it stays in use.");
            }
            uint abi = AbiVersion();
            if (abi != expectedAbiVersion)
            {
                throw new MigrationException("VersionMismatch",
                    "The native library '" + LibraryPath + "' speaks ABI version " + abi.ToString(CultureInfo.InvariantCulture) +
                    ", but this module expects ABI version " + expectedAbiVersion.ToString(CultureInfo.InvariantCulture) +
                    ". Install a module and library from the same release.",
                    abi);
            }
            return notes.ToArray();
        }

        /// <summary>
        /// The JSON request of one operation: "op", then "home" (when given), "workerPath" (for
        /// the operations that may start the worker, beside the library of
        /// <see cref="Layout"/>), then the arguments (which may override them).
        /// </summary>
        public static string Request(string operation, IDictionary arguments, string home, string privateDirectory)
        {
            var request = new System.Collections.Specialized.OrderedDictionary(StringComparer.OrdinalIgnoreCase);
            request["op"] = operation;
            if (!string.IsNullOrEmpty(home)) { request["home"] = home; }
            if (operation != null && WorkerOperationSet.Contains(operation)) { request["workerPath"] = Layout(privateDirectory).WorkerPath; }
            if (arguments != null)
            {
                foreach (DictionaryEntry entry in arguments)
                {
                    request[Convert.ToString(entry.Key, CultureInfo.InvariantCulture)] = entry.Value;
                }
            }
            return Json.Serialize(request);
        }

        /// <summary>
        /// Reads a response: writes its warnings (what the operation did on the side, such as a
        /// worker started for a batch whose worker was gone) as warnings of
        /// <paramref name="cmdlet"/>, and returns its result or the engine's error as an
        /// ErrorRecord (FullyQualifiedErrorId: the code; the cmdlet's name is appended when it
        /// is written or thrown).
        /// </summary>
        public static NativeOutcome Respond(PSCmdlet cmdlet, string operation, string responseText, object targetObject)
        {
            object response = Json.Parse(responseText);
            PSObject o = response as PSObject;
            object warnings = Member(o, "warnings");
            foreach (object w in LanguagePrimitives.GetEnumerable(warnings) ?? new[] { warnings })
            {
                if (LanguagePrimitives.IsTrue(w) && cmdlet != null) { cmdlet.WriteWarning(LanguagePrimitives.ConvertTo<string>(w)); }
            }
            if (LanguagePrimitives.IsTrue(Member(o, "ok"))) { return new NativeOutcome(Member(o, "result"), null); }
            PSObject error = Member(o, "error") as PSObject;
            string code = LanguagePrimitives.ConvertTo<string>(Member(error, "code"));
            if (string.IsNullOrEmpty(code)) { code = "Internal"; }
            string message = LanguagePrimitives.ConvertTo<string>(Member(error, "message"));
            if (string.IsNullOrEmpty(message)) { message = "The native operation '" + operation + "' failed with " + code + "."; }
            return new NativeOutcome(null, NewErrorRecord(code, message, targetObject, Member(error, "details")));
        }

        private static object Member(PSObject o, string name)
        {
            if (o == null) { return null; }
            PSPropertyInfo p = o.Properties[name];
            return p == null ? null : p.Value;
        }

        // Error code -> ErrorCategory (stable; the code itself becomes the FullyQualifiedErrorId).
        // Every code of the library (native/core/src/error_code.rs; system.version lists them as
        // ErrorCodes) has an entry, so none falls back to NotSpecified; the last three are the
        // module's own ids.
        private static readonly Dictionary<string, ErrorCategory> Categories = new Dictionary<string, ErrorCategory>(StringComparer.OrdinalIgnoreCase)
        {
            { "InvalidArgument", ErrorCategory.InvalidArgument },
            { "NotFound", ErrorCategory.ObjectNotFound },
            { "AlreadyExists", ErrorCategory.ResourceExists },
            { "InvalidState", ErrorCategory.InvalidOperation },
            { "CsvInvalid", ErrorCategory.InvalidArgument },
            { "AuthenticationFailed", ErrorCategory.AuthenticationError },
            { "EndpointUnreachable", ErrorCategory.ConnectionError },
            { "TlsError", ErrorCategory.SecurityError },
            // The server answered and declined (NO, BAD, BYE, too many refused items). Not
            // PermissionDenied: most refusals are a full mailbox, a missing folder or a busy server.
            { "ServerRefused", ErrorCategory.ResourceUnavailable },
            { "Protocol", ErrorCategory.ProtocolError },
            { "Cancelled", ErrorCategory.OperationStopped },
            // A library, worker or state directory of the matching version is not installed.
            { "VersionMismatch", ErrorCategory.NotInstalled },
            { "Unsupported", ErrorCategory.NotImplemented },
            // Our side failed to produce a result (store, key file, a broken invariant, a panic).
            { "Internal", ErrorCategory.InvalidResult },
            { "Panic", ErrorCategory.InvalidResult },
            { "UnsupportedParameter", ErrorCategory.InvalidArgument },
            { "NativeLibraryNotFound", ErrorCategory.ResourceUnavailable },
            { "NativeLibraryLoadFailed", ErrorCategory.ResourceUnavailable },
        };

        /// <summary>The category table, as a PowerShell hashtable (code -> ErrorCategory).</summary>
        public static Hashtable ErrorCategories()
        {
            var table = new Hashtable(StringComparer.OrdinalIgnoreCase);
            foreach (KeyValuePair<string, ErrorCategory> kv in Categories) { table[kv.Key] = kv.Value; }
            return table;
        }

        /// <summary>The ErrorCategory of a stable error code; NotSpecified for an unknown one.</summary>
        public static ErrorCategory Category(string code)
        {
            ErrorCategory c;
            return code != null && Categories.TryGetValue(code, out c) ? c : ErrorCategory.NotSpecified;
        }

        /// <summary>The ErrorRecord of a stable error code (New-MigErrorRecord).</summary>
        public static ErrorRecord NewErrorRecord(string code, string message, object targetObject, object details)
        {
            var ex = new MigrationException(code, message, details);
            return new ErrorRecord(ex, code, Category(code), targetObject);
        }
    }

    /// <summary>Where the native library and the worker binary are (Get-MigNativeLayout).</summary>
    public sealed class NativeLayout
    {
        public NativeLayout(string runtimeIdentifier, string directory, string libraryPath, string workerPath)
        {
            RuntimeIdentifier = runtimeIdentifier;
            Directory = directory;
            LibraryPath = libraryPath;
            WorkerPath = workerPath;
        }
        public string RuntimeIdentifier { get; private set; }
        public string Directory { get; private set; }
        public string LibraryPath { get; private set; }
        public string WorkerPath { get; private set; }
    }

    /// <summary>A response read by <see cref="Native.Respond"/>: the result, or the error.</summary>
    public sealed class NativeOutcome
    {
        public NativeOutcome(object result, ErrorRecord error)
        {
            Result = result;
            Error = error;
        }
        public bool Ok { get { return Error == null; } }
        public object Result { get; private set; }
        public ErrorRecord Error { get; private set; }
    }
}
