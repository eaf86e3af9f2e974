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
    $object = ConvertTo-MigPlainObject -InputObject $InputObject -TypeName $typeName -Converters @{
        Identity                   = { param($v) ConvertTo-MigUserId $v }
        BatchId                    = { param($v) ConvertTo-MigBatchId $v }
        Status                     = { param($v) ConvertTo-MigStatus $v -Kind User }
        StatusSummary              = { param($v) ConvertTo-MigStatus $v -Kind UserSummary }
        SkippedItems               = { param($v) ConvertTo-MigList $v { param($i) ConvertTo-MigSkippedItem $i } }
        Report                     = { param($v) ConvertTo-MigList $v { param($r) ConvertTo-MigReportEntry $r } }
        BytesTransferred           = { param($v) ConvertTo-MigByteSize $v }
        EstimatedTotalTransferSize = { param($v) ConvertTo-MigByteSize $v }
    } -Computed $computed
    # The engine's recent report lines feed DiagnosticInfo only; Exchange has no such property.
    $object.PSObject.Properties.Remove('Diagnostics')
    $object
}

function ConvertTo-MigSkippedItem {
    <#
    .SYNOPSIS
    A skipped item with the properties of Exchange's: Kind, FolderName, Subject, Sender, Recipient
    (the To and Cc addresses, a list), DateSent, DateReceived, MessageSize (bytes), Failure,
    ScoringClassifications. Exchange fills the last one from its own content scoring, which an
    IMAP copy has no part in, so it is always an empty list.
    #>
    [CmdletBinding()]
    param([AllowNull()][object]$InputObject)
    ConvertTo-MigPlainObject -InputObject $InputObject -TypeName 'ImapMigration.MigrationSkippedItem' -Converters @{
        Recipient = { param($v) ConvertTo-MigList $v }
    } -Computed @{
        Recipient              = { param($i) , [ImapMigration.MultiValuedProperty]::new() }
        ScoringClassifications = { param($i) , [ImapMigration.MultiValuedProperty]::new() }
    }
}

function Format-MigUserDiagnosticInfo {
    <#
    .SYNOPSIS
    DiagnosticInfo of a user: the worker's last recorded view (passes, syncs, counters, last
    error), the retries among its recent report lines with the last one in the server's words,
    and those lines themselves (each pass's line names the source and target sessions it used).
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
    $diagnostics = $User['Diagnostics']
    if ($diagnostics) {
        $facts['RecentRetries'] = $diagnostics.Retries
        $facts['LastRetry'] = $diagnostics.LastRetry
    }
    $text = Format-MigDiagnosticInfo -Facts $facts
    $events = @(if ($diagnostics) { $diagnostics.Events })
    if ($events.Count -gt 0) {
        $nl = [System.Environment]::NewLine
        $text += $nl + 'RecentEvents:' + $nl + (($events | ForEach-Object { "  $_" }) -join $nl)
    }
    $text
}
