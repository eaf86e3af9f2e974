function Set-MigrationBatch {
    <#
    .SYNOPSIS
    Changes an IMAP migration batch: adds users, revises the CSV, changes schedule and reports, syncs now.
    .DESCRIPTION
    Set-MigrationBatch changes only the settings you name. -AddUsers with -CSVData adds the new
    rows of a CSV in the batch's format; -CSVData alone resubmits the CSV (only while the batch is
    Stopped, Synced or SyncedWithErrors). -SyncNow starts an immediate incremental sync of the Synced users (use it
    after the MX switch-over). Dates without a zone are read as UTC. Parameters that Exchange has
    only for other migration types are refused with the error id UnsupportedParameter.
    .PARAMETER Identity
    The batch: its name or GUID, or a batch object from Get-MigrationBatch.
    .PARAMETER AddUsers
    Adds the users of -CSVData to the batch without resubmitting it; only new rows are processed.
    .PARAMETER CSVData
    The CSV file as bytes: ([System.IO.File]::ReadAllBytes('<path>')).
    .PARAMETER AllowUnknownColumnsInCsv
    $true ignores unknown CSV columns; $false (default) fails the CSV.
    .PARAMETER ApproveSkippedItems
    Approves the skipped items found so far; IMAP migrations need no approval, so this changes nothing.
    .PARAMETER StartAfter
    Delays the start of data migration until this time (UTC when no zone is given).
    .PARAMETER CompleteAfter
    Time after which the batch is completed (UTC when no zone is given).
    .PARAMETER NotificationEmails
    Replaces the list of addresses that receive the status reports.
    .PARAMETER ReportInterval
    How often reports are sent; 0 means never.
    .PARAMETER SkipReports
    $true skips automatic reporting.
    .PARAMETER SyncNow
    Starts an immediate incremental sync for the users that are Synced.
    .PARAMETER Update
    Reapplies the settings of the endpoint, batch and users at the next sync.
    .PARAMETER BadItemLimit
    Maximum number of bad items skipped before a user fails: an integer or 'Unlimited'.
    .PARAMETER LargeItemLimit
    Maximum number of too-large items skipped before a user fails: an integer or 'Unlimited'.
    .PARAMETER MaxMessageSize
    Extension: messages larger than this are not copied but reported as skipped items of kind LargeItem (counting against -LargeItemLimit): a size such as '35 MB', a number of bytes, or 'Unlimited' (the default).
    .PARAMETER Partition
    Reserved for internal Microsoft use in Exchange; accepted and ignored.
    .PARAMETER MoveOptions
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER SkipMerging
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER SkipMoving
    Exchange parameter for another migration type; refused for IMAP migrations.
    .EXAMPLE
    Set-MigrationBatch -Identity MigrationBatch01 -AddUsers -CSVData ([System.IO.File]::ReadAllBytes('.\MigrationBatch01.csv'))

    Adds the new users of the CSV to the batch.
    .EXAMPLE
    Set-MigrationBatch -Identity IMAPBatch1 -SyncNow

    Syncs the batch now, for example right after switching the MX record.
    .OUTPUTS
    None
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium', PositionalBinding = $false)]
    [OutputType([void])]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipeline, ValueFromPipelineByPropertyName)]
        [object]$Identity,

        [switch]$AddUsers,
        [byte[]]$CSVData,
        [ImapMigration.NotGivenWhenNull('AllowUnknownColumnsInCsv')][bool]$AllowUnknownColumnsInCsv,
        [switch]$ApproveSkippedItems,
        [ImapMigration.NotGivenWhenNull('StartAfter')][datetime]$StartAfter,
        [ImapMigration.NotGivenWhenNull('CompleteAfter')][datetime]$CompleteAfter,
        [string[]]$NotificationEmails,
        [ImapMigration.NotGivenWhenNull('ReportInterval')][timespan]$ReportInterval,
        [ImapMigration.NotGivenWhenNull('SkipReports')][bool]$SkipReports,
        [switch]$SyncNow,
        [switch]$Update,
        [object]$BadItemLimit,
        [object]$LargeItemLimit,
        [ImapMigration.NotGivenWhenNull('MaxMessageSize')][object]$MaxMessageSize,
        [object]$Partition,

        [string[]]$MoveOptions,
        [string[]]$SkipMerging,
        [string[]]$SkipMoving
    )

    begin {
        [ImapMigration.Invocation]::Initialize($PSCmdlet, $ExecutionContext.SessionState, @())
        Assert-MigSupportedParameter -Cmdlet $PSCmdlet -Unsupported 'MoveOptions', 'SkipMerging', 'SkipMoving'
        if ($AddUsers -and -not $CSVData) {
            $PSCmdlet.ThrowTerminatingError((New-MigErrorRecord -Code InvalidArgument -TargetObject 'AddUsers' `
                        -Message "-AddUsers needs the users to add: give -CSVData ([System.IO.File]::ReadAllBytes('<path to the CSV file>'))."))
        }
    }

    process {
        $id = ConvertTo-MigIdentityString $Identity
        $arguments = @{ identity = $id }
        if ($PSBoundParameters.ContainsKey('CSVData')) { $arguments['csvData'] = [System.Convert]::ToBase64String($CSVData) }
        if ($AddUsers) { $arguments['addUsers'] = $true }
        if ($PSBoundParameters.ContainsKey('AllowUnknownColumnsInCsv')) { $arguments['allowUnknownColumnsInCsv'] = $AllowUnknownColumnsInCsv }
        if ($PSBoundParameters.ContainsKey('StartAfter')) { $arguments['startAfter'] = ConvertTo-MigUtcString -DateTime $StartAfter }
        if ($PSBoundParameters.ContainsKey('CompleteAfter')) { $arguments['completeAfter'] = ConvertTo-MigUtcString -DateTime $CompleteAfter }
        if ($PSBoundParameters.ContainsKey('NotificationEmails')) { $arguments['notificationEmails'] = @($NotificationEmails) }
        if ($PSBoundParameters.ContainsKey('ReportInterval')) { $arguments['reportInterval'] = [long]$ReportInterval.TotalSeconds }
        if ($PSBoundParameters.ContainsKey('SkipReports')) { $arguments['skipReports'] = $SkipReports }
        if ($SyncNow) { $arguments['syncNow'] = $true }
        if ($Update) { $arguments['update'] = $true }
        if ($PSBoundParameters.ContainsKey('BadItemLimit')) { $arguments['badItemLimit'] = ConvertTo-MigUnlimited -Value $BadItemLimit -ParameterName BadItemLimit -Cmdlet $PSCmdlet }
        if ($PSBoundParameters.ContainsKey('LargeItemLimit')) { $arguments['largeItemLimit'] = ConvertTo-MigUnlimited -Value $LargeItemLimit -ParameterName LargeItemLimit -Cmdlet $PSCmdlet }
        if ($PSBoundParameters.ContainsKey('MaxMessageSize')) { $arguments['maxMessageSize'] = ConvertTo-MigByteLimit -Value $MaxMessageSize -ParameterName MaxMessageSize -Cmdlet $PSCmdlet }
        if ($ApproveSkippedItems) { Write-Verbose 'IMAP migrations need no approval of skipped items; -ApproveSkippedItems changes nothing.' }

        if ($arguments.Count -eq 1) {
            Write-Verbose "No setting of migration batch '$id' to change."
            return
        }
        if (-not $PSCmdlet.ShouldProcess($id, 'Change migration batch')) { return }
        $null = Invoke-MigNative -Operation 'batch.set' -Arguments $arguments -Cmdlet $PSCmdlet -TargetObject $id -NonTerminating
    }
}
