# .NET types the module's output objects use. Compiled once per process at import time: converters
# need them even when the native library is absent (unit tests, -WhatIf), and a type cannot be
# redefined in a running process, hence the guard.

if (-not ('ImapMigration.MigrationBatchStatus' -as [type])) {
    Add-Type -Language CSharp -TypeDefinition @'
using System;
using System.Collections.Generic;

namespace ImapMigration
{
    /// <summary>
    /// A status value as Exchange exposes it: scripts read <c>.Value</c> and also compare the
    /// status itself with plain strings (<c>-eq</c>, <c>-in</c>, <c>-like</c>, <c>switch</c>).
    /// Equality with strings is case-insensitive, as PowerShell's is. Ordering follows the
    /// Exchange enum order so <c>Sort-Object Status</c> sorts as it does against Exchange.
    /// </summary>
    public abstract class MigrationStatusValue : IComparable, IEquatable<MigrationStatusValue>
    {
        private readonly string _value;

        protected MigrationStatusValue(string value)
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
            string other = obj is MigrationStatusValue ? ((MigrationStatusValue)obj)._value : obj.ToString();
            int byRank = Rank.CompareTo(RankOf(other));
            return byRank != 0 ? byRank : string.Compare(_value, other, StringComparison.OrdinalIgnoreCase);
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
    }

    /// <summary>User status summary (Exchange MigrationUserStatusSummary).</summary>
    public sealed class MigrationUserStatusSummary : MigrationStatusValue
    {
        private static readonly string[] Names = { "None", "Active", "Failed", "Synced", "Completed", "Stopped" };
        public MigrationUserStatusSummary(string value) : base(value) { }
        protected override IList<string> Order { get { return Names; } }
    }

    /// <summary>Base of the identity objects: prints as <c>Id</c> and equals its string form.</summary>
    public abstract class MigrationObjectId : IEquatable<MigrationObjectId>
    {
        protected MigrationObjectId(string id) { Id = id ?? string.Empty; }

        public string Id { get; private set; }

        public override string ToString() { return Id; }

        public bool Equals(MigrationObjectId other)
        {
            return other != null && GetType() == other.GetType()
                && string.Equals(Id, other.Id, StringComparison.OrdinalIgnoreCase);
        }

        public override bool Equals(object obj)
        {
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
