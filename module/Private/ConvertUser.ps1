function ConvertTo-MigrationUserObject {
    <#
    .SYNOPSIS
    A native User (or UserStatistics with -Statistics) result as an ImapMigration.MigrationUser(Statistics) object.
    #>
    [CmdletBinding()]
    param([AllowNull()][object]$InputObject, [switch]$Statistics)
    if ($null -eq $InputObject) { return }
    $typeName = if ($Statistics) { 'ImapMigration.MigrationUserStatistics' } else { 'ImapMigration.MigrationUser' }
    $computed = if ($Statistics) { @{ DiagnosticInfo = { param($u) Format-MigUserDiagnosticInfo -User $u } } } else { @{} }
    ConvertTo-MigPlainObject -InputObject $InputObject -TypeName $typeName -Converters @{
        Identity                   = { param($v) ConvertTo-MigUserId $v }
        BatchId                    = { param($v) ConvertTo-MigBatchId $v }
        Status                     = { param($v) ConvertTo-MigStatus $v -Kind User }
        StatusSummary              = { param($v) ConvertTo-MigStatus $v -Kind UserSummary }
        SkippedItems               = { param($v) ConvertTo-MigList $v { param($i) ConvertTo-MigSkippedItem $i } }
        Report                     = { param($v) ConvertTo-MigList $v { param($r) ConvertTo-MigReportEntry $r } }
        BytesTransferred           = { param($v) ConvertTo-MigByteSize $v }
        EstimatedTotalTransferSize = { param($v) ConvertTo-MigByteSize $v }
    } -Computed $computed
}

function ConvertTo-MigSkippedItem {
    <#
    .SYNOPSIS
    A skipped item with the properties of Exchange's: Kind, FolderName, Subject, Sender, Recipient,
    DateSent, DateReceived, MessageSize (bytes), Failure, ScoringClassifications. The engine
    records no recipients and no scoring classification, so those two are empty.
    #>
    [CmdletBinding()]
    param([AllowNull()][object]$InputObject)
    ConvertTo-MigPlainObject -InputObject $InputObject -TypeName 'ImapMigration.MigrationSkippedItem' -Computed @{
        Recipient              = { param($i) , [ImapMigration.MultiValuedProperty]::new() }
        ScoringClassifications = { param($i) , [ImapMigration.MultiValuedProperty]::new() }
    }
}

function Format-MigUserDiagnosticInfo {
    <#
    .SYNOPSIS
    DiagnosticInfo of a user: the worker's last recorded view (passes, syncs, counters, last
    error). The library returns no connection or retry history, so neither is listed.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param([Parameter(Mandatory)][System.Collections.IDictionary]$User)
    $lastError = if ($User['ErrorSummary']) { if ($User['ErrorType']) { "$($User.ErrorType): $($User.ErrorSummary)" } else { $User.ErrorSummary } } else { 'none' }
    $facts = [ordered]@{
        Status                    = $User.Status
        Batch                     = $User.BatchId
        SyncPasses                = $User['SyncPasses']
        StartTime                 = $User['StartTime']
        InitialSyncTime           = $User['InitialSyncTime']
        LastSubscriptionCheckTime = $User['LastSubscriptionCheckTime']
        LastSuccessfulSyncTime    = $User['LastSuccessfulSyncTime']
        Folders                   = $User['SyncedFolderCount']
        Items                     = '{0} synced, {1} skipped, {2} in the source' -f $User['SyncedItemCount'], $User['SkippedItemCount'], $User['TotalItemsInSourceMailboxCount']
        BytesTransferred          = $User['BytesTransferred']
        LastError                 = $lastError
    }
    Format-MigDiagnosticInfo -Facts $facts
}
