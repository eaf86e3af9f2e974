function ConvertTo-MigrationBatchObject {
    <#
    .SYNOPSIS
    A native Batch result as an ImapMigration.MigrationBatch object (Status wrapper, identity objects,
    UTC dates, typed nested objects, byte quantities, DiagnosticInfo).
    #>
    [CmdletBinding()]
    param([AllowNull()][object]$InputObject)
    if ($null -eq $InputObject) { return }
    ConvertTo-MigPlainObject -InputObject $InputObject -TypeName 'ImapMigration.MigrationBatch' -Converters @{
        Identity           = { param($v) ConvertTo-MigBatchId $v }
        Status             = { param($v) ConvertTo-MigStatus $v -Kind Batch }
        SourceEndpoint     = { param($v) ConvertTo-MigrationEndpointObject $v }
        TargetEndpoint     = { param($v) ConvertTo-MigrationEndpointObject $v }
        ValidationWarnings = { param($v) ConvertTo-MigList $v { param($w) ConvertTo-MigPlainObject -InputObject $w -TypeName 'ImapMigration.MigrationBatchError' } }
        Reports            = { param($v) ConvertTo-MigList $v { param($r) ConvertTo-MigPlainObject -InputObject $r -TypeName 'ImapMigration.MigrationReportSet' } }
        Report             = { param($v) ConvertTo-MigList $v { param($r) ConvertTo-MigReportEntry $r } }
        BytesSynced        = { param($v) ConvertTo-MigByteSize $v }
    } -Computed @{
        DiagnosticInfo = { param($b) Format-MigBatchDiagnosticInfo -Batch $b }
    }
}

function Format-MigBatchDiagnosticInfo {
    <#
    .SYNOPSIS
    DiagnosticInfo of a batch: what the engine last recorded of it (the library returns no
    per-connection or retry history to add).
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param([Parameter(Mandatory)][System.Collections.IDictionary]$Batch)
    $users = '{0} total, {1} active, {2} synced, {3} failed, {4} stopped, {5} pending' -f $Batch.TotalCount,
        $Batch.ActiveCount, $Batch.SyncedCount, $Batch.FailedCount, $Batch.StoppedCount, $Batch.PendingCount
    $items = if ($null -ne $Batch['ItemsTotal']) { '{0} synced, {1} skipped, {2} in the sources' -f $Batch.ItemsSynced, $Batch.ItemsSkipped, $Batch.ItemsTotal }
    $facts = [ordered]@{
        Status             = $Batch.Status
        PendingRequest     = if ("$($Batch.Flags)" -ne 'None') { $Batch.Flags }
        Users              = $users
        Items              = $items
        BytesSynced        = $Batch.BytesSynced
        StartDateTime      = $Batch.StartDateTime
        InitialSyncDateTime = $Batch.InitialSyncDateTime
        LastSyncedDateTime = $Batch.LastSyncedDateTime
        NextSyncDateTime   = $Batch.NextSyncDateTime
        Message            = $Batch.Message
    }
    Format-MigDiagnosticInfo -Facts $facts
}
