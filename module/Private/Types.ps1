# .NET types the module's output objects use. Compiled once per process at import time: converters
# need them even when the native library is absent (unit tests, -WhatIf), and a type cannot be
# redefined in a running process, hence the guard.

if (-not ('ImapMigration.NotGivenWhenNullAttribute' -as [type])) {
    Add-Type -Language CSharp -TypeDefinition @'
using System;
using System.Collections;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.ComponentModel;
using System.Globalization;
using System.Management.Automation;
using System.Text;

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
    /// scope; Initialize-MigInvocation then removes it from $PSBoundParameters and restores the
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
}
'@
}
