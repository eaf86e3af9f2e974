function New-MigrationBatch {
    <#
    .SYNOPSIS
    Creates an IMAP migration batch from a CSV file of users.
    .DESCRIPTION
    New-MigrationBatch reads the CSV (columns EmailAddress, UserName, Password and optional
    UserRoot), validates it and stores the batch and its users. Pointing -SourceEndpoint at an IMAP
    endpoint makes an IMAP batch. Without -AutoStart the batch is Stopped (created, not
    started, as Exchange Online shows it) until Start-MigrationBatch; with -AutoStart it is
    Starting at once and the background worker runs it (the cmdlet returns at once; poll
    Get-MigrationBatch for the Status).
    A file-level CSV problem (missing required column, unknown column, not text, wrong column
    count) fails the cmdlet with the error id CsvInvalid and creates nothing. Row-level problems
    are recorded in the batch's ValidationWarnings; the batch is then not started automatically.
    Dates without a zone (-StartAfter, -CompleteAfter) are read as UTC unless -TimeZone is given.
    As an extension, -TargetEndpoint names an IMAP target endpoint; without it the configured
    default target is used, else the embedded local Maildir store.
    .PARAMETER Name
    Unique name of the batch (up to 64 characters); it is the batch's Identity.
    .PARAMETER SourceEndpoint
    The IMAP endpoint to migrate from: its name or GUID, or an endpoint object.
    .PARAMETER TargetEndpoint
    Extension: an IMAP endpoint to migrate to. Omitted: the configured default target, else the local Maildir store.
    .PARAMETER CSVData
    The CSV file as bytes: ([System.IO.File]::ReadAllBytes('<path>')).
    .PARAMETER AutoStart
    Starts the batch as soon as it is created.
    .PARAMETER StartAfter
    Delays the start of data migration until this time (UTC unless -TimeZone is given).
    .PARAMETER CompleteAfter
    Time after which the batch is completed (UTC unless -TimeZone is given).
    .PARAMETER TimeZone
    Windows time-zone name (for example 'Pacific Standard Time') of the times you give. Default UTC.
    .PARAMETER NotificationEmails
    Addresses that receive the migration status reports. Without it no report is sent.
    .PARAMETER ReportInterval
    How often reports are sent. Default 24 hours; 0 means never.
    .PARAMETER SkipReports
    Skips automatic reporting.
    .PARAMETER ExcludeFolders
    Folders not to migrate, relative to the IMAP root; '<Folder>/*' includes the subfolders; #WellKnown# names are accepted.
    .PARAMETER IncludeFolders
    Folders to migrate (same syntax as -ExcludeFolders); the others are skipped.
    .PARAMETER ContentFilter
    Received-date filter, e.g. "Received -gt '8/23/2015' -and Received -lt '8/23/2020'".
    .PARAMETER ContentFilterLanguage
    Culture of the dates in -ContentFilter (for example da-DK); accepted, the engine reads dates in the invariant culture.
    .PARAMETER AllowUnknownColumnsInCsv
    $true ignores unknown CSV columns; $false (default) fails the CSV.
    .PARAMETER AdoptPreexisting
    CSV rows naming users already in other batches move those users to the new batch, with their progress and the row's credentials (without it such rows are left out with a validation warning).
    .PARAMETER RemoveOnCopy
    With -AdoptPreexisting, removes the adopted user from its old batch; accepted (an adopted user always leaves its old batch).
    .PARAMETER BadItemLimit
    Maximum number of bad items skipped before a user fails: an integer or 'Unlimited'.
    .PARAMETER LargeItemLimit
    Maximum number of too-large items skipped before a user fails: an integer or 'Unlimited'.
    .PARAMETER MaxMessageSize
    Extension: messages larger than this are not copied but reported as skipped items of kind LargeItem (counting against -LargeItemLimit): a size such as '35 MB', a number of bytes, or 'Unlimited' (the default).
    .PARAMETER Users
    Re-batch set: users already in a batch (from Get-MigrationUser, also from the pipeline). They move to the new batch with their progress: nothing already copied is copied again. The new batch takes its endpoints and folder filters from the users' batch. Users of another migration type, users whose pass runs, and users of a batch being removed are refused by name, and nothing moves.
    .PARAMETER UserIds
    Re-batch set: email addresses or GUIDs of users already in a batch; they move as with -Users.
    .PARAMETER DisableOnCopy
    Re-batch sets: disables the user's original job item; accepted (the user moves, so its old job item stops anyway).
    .PARAMETER Partition
    Reserved for internal Microsoft use in Exchange; accepted and ignored.
    .PARAMETER ArchiveOnly
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER PrimaryOnly
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER TargetDatabases
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER TargetArchiveDatabases
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER TargetDeliveryDomain
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER ArchiveDomain
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER MoveOptions
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER SkipMoving
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER SkipMerging
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER WorkflowControlFlags
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER WorkflowTemplate
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER WorkloadType
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER Local
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER SourcePublicFolderDatabase
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER SourcePFPrimaryMailboxGuid
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER ExcludeDumpsters
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER PublicFolderToUnifiedGroup
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER XMLData
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER AutoProvisioning
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER AvoidMergeOverlap
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER DataFusion
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER ForwardingDisposition
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER IncludeOtherContacts
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER MigrateTasks
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER RenamePrimaryCalendar
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER SimplifiedSwitchOver
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER SkipCalendar
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER SkipContacts
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER SkipDelegates
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER SkipMail
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER SkipProvisioning
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER SkipRules
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER GoogleResource
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER ManagedGmailTeams
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER Analyze
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER Daily
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER SkipDetails
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER Restore
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER SlackPublicDataConnector
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER ConnectionLogicalId
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER SlackWorkspaceId
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER StagedRollOutGroupId
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER AutoComplete
    Exchange parameter for another migration type; refused for IMAP migrations.
    .EXAMPLE
    New-MigrationBatch -Name IMAPBatch1 -SourceEndpoint IMAPEndpoint -CSVData ([System.IO.File]::ReadAllBytes(".\IMAPmigration_1.csv")) -AutoStart

    Creates an IMAP batch from the CSV and starts it.
    .EXAMPLE
    New-MigrationBatch -Name Retry -Users (Get-MigrationUser -Status Failed) -AutoStart

    Moves the failed users to a new batch, with their progress, and starts it.
    .EXAMPLE
    New-MigrationBatch -Name IMAPbatch1 -CSVData ([System.IO.File]::ReadAllBytes(".\IMAPmigration_1.csv")) -SourceEndpoint IMAPEndpoint1 -ExcludeFolders "Deleted Items","Junk Email"

    Creates a batch that skips two folders; it waits for Start-MigrationBatch.
    .EXAMPLE
    $b = New-MigrationBatch -Name Wave2 -SourceEndpoint IMAPEndpoint -CSVData $bytes -StartAfter "7/30/2026 9:00PM -700"; $b.Identity.Name

    Creates a batch whose data migration starts at the given time (converted to UTC).
    .OUTPUTS
    ImapMigration.MigrationBatch
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium', DefaultParameterSetName = 'Onboarding', PositionalBinding = $false)]
    [OutputType('ImapMigration.MigrationBatch')]
    param(
        [Parameter(Mandatory, ParameterSetName = 'Onboarding')]
        [Parameter(Mandatory, ParameterSetName = 'Preexisting')]
        [Parameter(ParameterSetName = 'PreexistingUserIds')]
        [string]$Name,

        [Parameter(ParameterSetName = 'Onboarding')][object]$SourceEndpoint,
        [Parameter(ParameterSetName = 'Onboarding')][object]$TargetEndpoint,
        [Parameter(ParameterSetName = 'Onboarding')][byte[]]$CSVData,

        [switch]$AutoStart,
        [ImapMigration.NotGivenWhenNull('StartAfter')][datetime]$StartAfter,
        [ImapMigration.NotGivenWhenNull('CompleteAfter')][datetime]$CompleteAfter,
        [ImapMigration.NotGivenWhenNull('TimeZone')][string]$TimeZone,
        [string[]]$NotificationEmails,
        [ImapMigration.NotGivenWhenNull('ReportInterval')][timespan]$ReportInterval,
        [switch]$SkipReports,

        [Parameter(ParameterSetName = 'Onboarding')][string[]]$ExcludeFolders,
        [Parameter(ParameterSetName = 'Onboarding')][string[]]$IncludeFolders,
        [Parameter(ParameterSetName = 'Onboarding')][ImapMigration.NotGivenWhenNull('ContentFilter')][string]$ContentFilter,
        [Parameter(ParameterSetName = 'Onboarding')][ImapMigration.NotGivenWhenNull('ContentFilterLanguage')][string]$ContentFilterLanguage,
        [Parameter(ParameterSetName = 'Onboarding')][ImapMigration.NotGivenWhenNull('AllowUnknownColumnsInCsv')][bool]$AllowUnknownColumnsInCsv,
        [Parameter(ParameterSetName = 'Onboarding')][switch]$AdoptPreexisting,
        [Parameter(ParameterSetName = 'Onboarding')][switch]$RemoveOnCopy,
        [Parameter(ParameterSetName = 'Onboarding')][object]$BadItemLimit,
        [Parameter(ParameterSetName = 'Onboarding')][object]$LargeItemLimit,
        [Parameter(ParameterSetName = 'Onboarding')][ImapMigration.NotGivenWhenNull('MaxMessageSize')][object]$MaxMessageSize,

        [Parameter(Mandatory, Position = 0, ValueFromPipeline, ParameterSetName = 'Preexisting')]
        [Parameter(Mandatory, Position = 0, ValueFromPipeline, ParameterSetName = 'PreexistingUsers')]
        [object[]]$Users,

        [Parameter(Mandatory, Position = 0, ValueFromPipeline, ParameterSetName = 'PreexistingUserIds')]
        [object[]]$UserIds,

        [Parameter(ParameterSetName = 'Preexisting')]
        [Parameter(ParameterSetName = 'PreexistingUsers')]
        [Parameter(ParameterSetName = 'PreexistingUserIds')]
        [switch]$DisableOnCopy,

        [object]$Partition,

        [switch]$ArchiveOnly,
        [switch]$PrimaryOnly,
        [string[]]$TargetDatabases,
        [string[]]$TargetArchiveDatabases,
        [ImapMigration.NotGivenWhenNull('TargetDeliveryDomain')][string]$TargetDeliveryDomain,
        [ImapMigration.NotGivenWhenNull('ArchiveDomain')][string]$ArchiveDomain,
        [string[]]$MoveOptions,
        [string[]]$SkipMoving,
        [string[]]$SkipMerging,
        [object]$WorkflowControlFlags,
        [ImapMigration.NotGivenWhenNull('WorkflowTemplate')][string]$WorkflowTemplate,
        [object]$WorkloadType,
        [switch]$Local,
        [object]$SourcePublicFolderDatabase,
        [object]$SourcePFPrimaryMailboxGuid,
        [switch]$ExcludeDumpsters,
        [switch]$PublicFolderToUnifiedGroup,
        [byte[]]$XMLData,
        [switch]$AutoProvisioning,
        [switch]$AvoidMergeOverlap,
        [switch]$DataFusion,
        [object]$ForwardingDisposition,
        [switch]$IncludeOtherContacts,
        [switch]$MigrateTasks,
        [switch]$RenamePrimaryCalendar,
        [switch]$SimplifiedSwitchOver,
        [switch]$SkipCalendar,
        [switch]$SkipContacts,
        [switch]$SkipDelegates,
        [switch]$SkipMail,
        [switch]$SkipProvisioning,
        [switch]$SkipRules,
        [switch]$GoogleResource,
        [switch]$ManagedGmailTeams,
        [switch]$Analyze,
        [switch]$Daily,
        [switch]$SkipDetails,
        [switch]$Restore,
        [switch]$SlackPublicDataConnector,
        [ImapMigration.NotGivenWhenNull('ConnectionLogicalId')][string]$ConnectionLogicalId,
        [ImapMigration.NotGivenWhenNull('SlackWorkspaceId')][string]$SlackWorkspaceId,
        [ImapMigration.NotGivenWhenNull('StagedRollOutGroupId')][string]$StagedRollOutGroupId,
        [switch]$AutoComplete
    )

    begin {
        [ImapMigration.Invocation]::Initialize($PSCmdlet, $ExecutionContext.SessionState, @())
        Assert-MigSupportedParameter -Cmdlet $PSCmdlet -Unsupported @('ArchiveOnly', 'PrimaryOnly', 'TargetDatabases', 'TargetArchiveDatabases', 'TargetDeliveryDomain', 'ArchiveDomain', 'MoveOptions', 'SkipMoving', 'SkipMerging', 'WorkflowControlFlags', 'WorkflowTemplate', 'WorkloadType', 'Local', 'SourcePublicFolderDatabase', 'SourcePFPrimaryMailboxGuid', 'ExcludeDumpsters', 'PublicFolderToUnifiedGroup', 'XMLData', 'AutoProvisioning', 'AvoidMergeOverlap', 'DataFusion', 'ForwardingDisposition', 'IncludeOtherContacts', 'MigrateTasks', 'RenamePrimaryCalendar', 'SimplifiedSwitchOver', 'SkipCalendar', 'SkipContacts', 'SkipDelegates', 'SkipMail', 'SkipProvisioning', 'SkipRules', 'GoogleResource', 'ManagedGmailTeams', 'Analyze', 'Daily', 'SkipDetails', 'Restore', 'SlackPublicDataConnector', 'ConnectionLogicalId', 'SlackWorkspaceId', 'StagedRollOutGroupId', 'AutoComplete')
        # Re-batching: the users of every pipeline item, sent to the engine once, in end.
        $rebatchIds = [System.Collections.Generic.List[string]]::new()
        $otherType = [System.Collections.Generic.List[string]]::new()
    }

    process {
        if ($PSCmdlet.ParameterSetName -ne 'Onboarding') {
            $items = if ($PSCmdlet.ParameterSetName -eq 'PreexistingUserIds') { $UserIds } else { $Users }
            foreach ($u in @($items)) {
                if ($null -eq $u) { continue }
                $guid = $u.PSObject.Properties['Guid']
                $id = if ($guid -and $null -ne $guid.Value -and "$($guid.Value)" -ne '') { "$($guid.Value)" } else { ConvertTo-MigIdentityString $u }
                $type = $u.PSObject.Properties['MigrationType']
                if ($type -and $null -ne $type.Value -and "$($type.Value)" -ne '' -and "$($type.Value)" -ne 'IMAP') {
                    $otherType.Add(('{0} ({1})' -f (ConvertTo-MigIdentityString $u), $type.Value))
                    continue
                }
                if ($id) { $rebatchIds.Add($id) }
            }
            return
        }
        if (-not $PSBoundParameters.ContainsKey('SourceEndpoint') -or $null -eq $SourceEndpoint) {
            $PSCmdlet.ThrowTerminatingError((New-MigErrorRecord -Code InvalidArgument -TargetObject $Name `
                        -Message "An IMAP migration batch needs a source endpoint: give -SourceEndpoint with the name of an IMAP endpoint (see New-MigrationEndpoint)."))
        }
        if (-not $CSVData -or $CSVData.Length -eq 0) {
            $PSCmdlet.ThrowTerminatingError((New-MigErrorRecord -Code InvalidArgument -TargetObject $Name `
                        -Message "An IMAP migration batch needs CSV data: give -CSVData ([System.IO.File]::ReadAllBytes('<path to the CSV file>'))."))
        }

        $arguments = @{
            name           = $Name
            sourceEndpoint = ConvertTo-MigIdentityString $SourceEndpoint
            csvData        = [System.Convert]::ToBase64String($CSVData)
            autoStart      = [bool]$AutoStart
        }
        if ($PSBoundParameters.ContainsKey('TargetEndpoint') -and $null -ne $TargetEndpoint) {
            $arguments['targetEndpoint'] = ConvertTo-MigIdentityString $TargetEndpoint
        }
        # An empty -TimeZone (what a [string] setting left unset becomes) names no zone: UTC.
        if ($PSBoundParameters.ContainsKey('TimeZone') -and -not [string]::IsNullOrWhiteSpace($TimeZone)) {
            try { $null = Find-MigTimeZone -Name $TimeZone }
            catch {
                $PSCmdlet.ThrowTerminatingError((New-MigErrorRecord -Code InvalidArgument -TargetObject $TimeZone `
                            -Message "The time zone '$TimeZone' is not known. Give a Windows time-zone name such as 'Pacific Standard Time' or an IANA name such as 'America/Los_Angeles'."))
            }
            $arguments['timeZone'] = $TimeZone
        }
        if ($PSBoundParameters.ContainsKey('StartAfter')) { $arguments['startAfter'] = ConvertTo-MigUtcString -DateTime $StartAfter -TimeZone $TimeZone }
        if ($PSBoundParameters.ContainsKey('CompleteAfter')) { $arguments['completeAfter'] = ConvertTo-MigUtcString -DateTime $CompleteAfter -TimeZone $TimeZone }
        if ($PSBoundParameters.ContainsKey('NotificationEmails')) { $arguments['notificationEmails'] = @($NotificationEmails) }
        if ($PSBoundParameters.ContainsKey('ExcludeFolders')) { $arguments['excludeFolders'] = @($ExcludeFolders) }
        if ($PSBoundParameters.ContainsKey('IncludeFolders')) { $arguments['includeFolders'] = @($IncludeFolders) }
        if ($PSBoundParameters.ContainsKey('ContentFilter')) { $arguments['contentFilter'] = $ContentFilter }
        if ($PSBoundParameters.ContainsKey('AllowUnknownColumnsInCsv')) { $arguments['allowUnknownColumnsInCsv'] = $AllowUnknownColumnsInCsv }
        if ($PSBoundParameters.ContainsKey('ReportInterval')) { $arguments['reportInterval'] = [long]$ReportInterval.TotalSeconds }
        if ($SkipReports) { $arguments['skipReports'] = $true }
        if ($AdoptPreexisting) { $arguments['adoptPreexisting'] = $true }
        if ($RemoveOnCopy) { Write-Verbose '-RemoveOnCopy is accepted: an adopted user moves to the new batch, so it leaves its old one anyway.' }
        if ($PSBoundParameters.ContainsKey('BadItemLimit')) { $arguments['badItemLimit'] = ConvertTo-MigUnlimited -Value $BadItemLimit -ParameterName BadItemLimit -Cmdlet $PSCmdlet }
        if ($PSBoundParameters.ContainsKey('LargeItemLimit')) { $arguments['largeItemLimit'] = ConvertTo-MigUnlimited -Value $LargeItemLimit -ParameterName LargeItemLimit -Cmdlet $PSCmdlet }
        if ($PSBoundParameters.ContainsKey('MaxMessageSize')) { $arguments['maxMessageSize'] = ConvertTo-MigByteLimit -Value $MaxMessageSize -ParameterName MaxMessageSize -Cmdlet $PSCmdlet }
        if ($PSBoundParameters.ContainsKey('ContentFilterLanguage')) {
            Write-Verbose "-ContentFilterLanguage is accepted; dates in -ContentFilter are read in the invariant culture (month/day/year)."
        }

        if (-not $PSCmdlet.ShouldProcess($Name, 'Import the CSV data to migrate mailboxes in migration batch')) { return }

        $result = Invoke-MigNative -Operation 'batch.new' -Arguments $arguments -Cmdlet $PSCmdlet -TargetObject $Name -NonTerminating
        if ($null -eq $result) { return }
        $batch = ConvertTo-MigrationBatchObject $result
        if ($batch.ValidationWarningCount -gt 0) {
            Write-Warning ("Migration batch '{0}' was created with {1} validation warning(s) and was not started. Review the validation warnings (Get-MigrationBatch -Identity '{0}' | Select-Object -ExpandProperty ValidationWarnings), then run Start-MigrationBatch -Identity '{0}'." -f $Name, $batch.ValidationWarningCount)
        }
        $batch
    }

    end {
        if ($PSCmdlet.ParameterSetName -eq 'Onboarding') { return }
        if ($otherType.Count -gt 0) {
            $PSCmdlet.ThrowTerminatingError((New-MigErrorRecord -Code InvalidArgument -TargetObject $Name `
                        -Message ("An IMAP migration batch takes IMAP migration users only; these are of another migration type: {0}. Nothing was moved." -f ($otherType -join ', '))))
        }
        if ($rebatchIds.Count -eq 0) {
            $PSCmdlet.ThrowTerminatingError((New-MigErrorRecord -Code InvalidArgument -TargetObject $Name `
                        -Message "No migration user was given to move to batch '$Name' (-Users or -UserIds is empty). Nothing was moved."))
        }
        $arguments = @{
            name      = $Name
            users     = @($rebatchIds)
            autoStart = [bool]$AutoStart
        }
        if ($PSBoundParameters.ContainsKey('StartAfter')) { $arguments['startAfter'] = ConvertTo-MigUtcString -DateTime $StartAfter -TimeZone $TimeZone }
        if ($PSBoundParameters.ContainsKey('CompleteAfter')) { $arguments['completeAfter'] = ConvertTo-MigUtcString -DateTime $CompleteAfter -TimeZone $TimeZone }
        if ($PSBoundParameters.ContainsKey('NotificationEmails')) { $arguments['notificationEmails'] = @($NotificationEmails) }
        if ($PSBoundParameters.ContainsKey('ReportInterval')) { $arguments['reportInterval'] = [long]$ReportInterval.TotalSeconds }
        if ($SkipReports) { $arguments['skipReports'] = $true }
        if ($DisableOnCopy) { Write-Verbose '-DisableOnCopy is accepted: the users move to the new batch, so their old job items stop anyway.' }

        if (-not $PSCmdlet.ShouldProcess($Name, "Move $($rebatchIds.Count) migration user(s) to a new migration batch")) { return }

        $result = Invoke-MigNative -Operation 'batch.new' -Arguments $arguments -Cmdlet $PSCmdlet -TargetObject $Name -NonTerminating
        if ($null -eq $result) { return }
        ConvertTo-MigrationBatchObject $result
    }
}
