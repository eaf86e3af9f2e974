function Get-MigrationUser {
    <#
    .SYNOPSIS
    Gets the users of IMAP migration batches and their status.
    .DESCRIPTION
    Get-MigrationUser returns migration users: one by -Identity (email address or GUID), those of
    a batch (-BatchId), in a -Status or -StatusSummary, by -MailboxGuid or -EmailAddress, or all of
    them. A $null Identity returns all users. Pipe the users to Get-MigrationUserStatistics for
    item counts and skipped items.
    .PARAMETER Identity
    Email address or GUID of the user, or an object that has an Identity.
    .PARAMETER BatchId
    Returns the users of this batch (name, GUID or batch identity such as $b.Identity).
    .PARAMETER Status
    Returns the users in this status, e.g. Queued, Syncing, Synced, Failed, IncrementalFailed, Stopped.
    .PARAMETER StatusSummary
    Returns the users in this summary status: Active, Completed, Failed, Stopped or Synced.
    .PARAMETER MailboxGuid
    Returns the user with this mailbox GUID.
    .PARAMETER EmailAddress
    Returns the user with this email address.
    .PARAMETER ResultSize
    Maximum number of users returned: an integer or 'Unlimited'. Default 1000.
    .PARAMETER IncludeAssociatedUsers
    Exchange parameter; accepted and ignored.
    .PARAMETER Partition
    Reserved for internal Microsoft use in Exchange; accepted and ignored.
    .EXAMPLE
    Get-MigrationUser -Identity TonySmith@contoso.com

    Gets one migration user.
    .EXAMPLE
    Get-MigrationUser -BatchId IMAPBatch1 | Get-MigrationUserStatistics

    Shows the item counts of every user in a batch.
    .EXAMPLE
    Get-MigrationUser -Status Failed | Select-Object Identity,SkippedItemCount,SyncedItemCount,Status,BatchId,LastSuccessfulSyncTime,ErrorSummary

    Lists the failed users with their errors.
    .OUTPUTS
    ImapMigration.MigrationUser
    #>
    [CmdletBinding(DefaultParameterSetName = 'Identity', PositionalBinding = $false)]
    [OutputType('ImapMigration.MigrationUser')]
    param(
        [Parameter(Position = 0, ValueFromPipeline, ValueFromPipelineByPropertyName, ParameterSetName = 'Identity')]
        [AllowNull()]
        [object]$Identity,

        [Parameter(ParameterSetName = 'StatusAndBatchId')]
        [object]$BatchId,

        [Parameter(ParameterSetName = 'StatusAndBatchId')]
        [ImapMigration.NotGivenWhenNull('Status')][string]$Status,

        [Parameter(ParameterSetName = 'StatusAndBatchId')]
        [ValidateSet('Active', 'Completed', 'Failed', 'Stopped', 'Synced')]
        [ImapMigration.NotGivenWhenNull('StatusSummary')][string]$StatusSummary,

        [Parameter(Mandatory, ParameterSetName = 'MailboxGuid')]
        [guid]$MailboxGuid,

        [Parameter(Mandatory, ParameterSetName = 'EmailAddress')]
        [string]$EmailAddress,

        [object]$ResultSize,
        [switch]$IncludeAssociatedUsers,
        [object]$Partition
    )

    begin { [ImapMigration.Invocation]::Initialize($PSCmdlet, $ExecutionContext.SessionState, @()) }

    process {
        $arguments = @{}
        $id = ConvertTo-MigIdentityString $Identity
        if ($id) { $arguments['identity'] = $id }
        if ($PSBoundParameters.ContainsKey('BatchId')) { $arguments['batchId'] = ConvertTo-MigIdentityString $BatchId }
        if ($PSBoundParameters.ContainsKey('Status')) {
            # Every status Exchange documents is a valid filter, in any case; one the engine never
            # produces (Provisioning, CompletionSynced...) matches no user.
            $known = @([ImapMigration.MigrationUserStatus]::All | Where-Object { $_ -eq $Status })
            if (-not $known) {
                $PSCmdlet.WriteError((New-MigErrorRecord -Code InvalidArgument -TargetObject $Status -Details ([pscustomobject]@{ parameter = 'status' }) `
                            -Message "The user status '$Status' is not valid. Valid values: $([ImapMigration.MigrationUserStatus]::All -join ', ')."))
                return
            }
            $arguments['status'] = $known[0]
        }
        if ($PSBoundParameters.ContainsKey('StatusSummary')) { $arguments['statusSummary'] = $StatusSummary }
        if ($PSBoundParameters.ContainsKey('MailboxGuid')) { $arguments['mailboxGuid'] = $MailboxGuid.ToString() }
        if ($PSBoundParameters.ContainsKey('EmailAddress')) { $arguments['emailAddress'] = $EmailAddress }
        if ($PSBoundParameters.ContainsKey('ResultSize')) {
            $size = ConvertTo-MigUnlimited -Value $ResultSize -ParameterName ResultSize -Cmdlet $PSCmdlet
            if ($size -ne 'Unlimited') { $arguments['resultSize'] = $size }
        }
        $target = if ($arguments['identity']) { $arguments['identity'] } elseif ($arguments['mailboxGuid']) { $arguments['mailboxGuid'] } elseif ($arguments['batchId']) { $arguments['batchId'] } else { $arguments['emailAddress'] }
        $result = if ($arguments.ContainsKey('status')) {
            Invoke-MigNativeQuery -Cmdlet $PSCmdlet -Operation 'user.get' -Arguments $arguments -TargetObject $target -FilterParameter 'status'
        }
        else {
            Invoke-MigNative -Operation 'user.get' -Arguments $arguments -Cmdlet $PSCmdlet -TargetObject $target -NonTerminating
        }
        # An identity, mailbox GUID or address that names no user is NotFound from the engine,
        # never every user.
        foreach ($item in @($result)) {
            if ($null -ne $item) { ConvertTo-MigrationUserObject $item }
        }
    }
}
