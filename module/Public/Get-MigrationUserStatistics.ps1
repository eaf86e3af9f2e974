function Get-MigrationUserStatistics {
    <#
    .SYNOPSIS
    Gets detailed statistics of a migration user: items synced and skipped, skipped items, report.
    .DESCRIPTION
    Get-MigrationUserStatistics returns the user's status plus counters (SyncedItemCount,
    SkippedItemCount, TotalItemsInSourceMailboxCount, BytesTransferred, PercentageComplete). With
    -IncludeSkippedItems it lists the skipped items (Kind, FolderName, Subject, Sender, dates,
    size); with -IncludeReport it adds the user's event log. It takes users from the pipeline:
    Get-MigrationUser -BatchId X | Get-MigrationUserStatistics.
    .PARAMETER Identity
    Email address or GUID of the user, or a user object from Get-MigrationUser.
    .PARAMETER IncludeReport
    Adds the user's event log (Report) for troubleshooting.
    .PARAMETER IncludeSkippedItems
    Fills SkippedItems with the items that were not migrated.
    .PARAMETER LimitSkippedItemsTo
    Maximum number of skipped items returned.
    .PARAMETER SkipSubscription
    Exchange parameter; accepted and ignored.
    .PARAMETER DiagnosticInfo
    Exchange support diagnostics; accepted and ignored.
    .PARAMETER IncludeCopilotReport
    Exchange parameter; accepted and ignored.
    .PARAMETER Partition
    Reserved for internal Microsoft use in Exchange; accepted and ignored.
    .EXAMPLE
    Get-MigrationUser -BatchId IMAPBatch1 | Get-MigrationUserStatistics

    Shows Identity, Batch, Status, Items Synced and Items Skipped for every user of a batch.
    .EXAMPLE
    Get-MigrationUserStatistics -Identity laura@contoso.com -IncludeSkippedItems | Select-Object -ExpandProperty SkippedItems | Format-List DateReceived,Subject

    Lists the items that were skipped for one user.
    .OUTPUTS
    ImapMigration.MigrationUserStatistics
    #>
    [CmdletBinding(PositionalBinding = $false)]
    [OutputType('ImapMigration.MigrationUserStatistics')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipeline, ValueFromPipelineByPropertyName)]
        [object]$Identity,

        [switch]$IncludeReport,
        [switch]$IncludeSkippedItems,
        [ImapMigration.NotGivenWhenNull('LimitSkippedItemsTo')][int]$LimitSkippedItemsTo,
        [switch]$SkipSubscription,
        [ImapMigration.NotGivenWhenNull('DiagnosticInfo')][string]$DiagnosticInfo,
        [switch]$IncludeCopilotReport,
        [object]$Partition
    )

    begin { [ImapMigration.Invocation]::Initialize($PSCmdlet, $ExecutionContext.SessionState, @()) }

    process {
        $id = ConvertTo-MigIdentityString $Identity
        $arguments = @{ identity = $id }
        if ($IncludeReport) { $arguments['includeReport'] = $true }
        if ($IncludeSkippedItems) { $arguments['includeSkippedItems'] = $true }
        if ($PSBoundParameters.ContainsKey('LimitSkippedItemsTo')) { $arguments['limitSkippedItemsTo'] = $LimitSkippedItemsTo }
        $result = Invoke-MigNative -Operation 'user.statistics' -Arguments $arguments -Cmdlet $PSCmdlet -TargetObject $id -NonTerminating
        foreach ($item in @($result)) {
            if ($null -ne $item) { ConvertTo-MigrationUserObject $item -Statistics }
        }
    }
}
