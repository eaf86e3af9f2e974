function Set-MigrationUser {
    <#
    .SYNOPSIS
    Changes one migration user: sync now, schedule, item limits.
    .DESCRIPTION
    Set-MigrationUser changes only the settings you name. -SyncNow triggers an incremental sync of
    the user. Dates without a zone are read as UTC. A setting on a user overrides the batch's.
    .PARAMETER Identity
    Email address or GUID of the user, or a user object from Get-MigrationUser.
    .PARAMETER ApproveSkippedItems
    Approves the skipped items; IMAP migrations need no approval, so this changes nothing.
    .PARAMETER CompleteAfter
    Time after which the user is completed (UTC when no zone is given).
    .PARAMETER StartAfter
    Delays the start of the user's data migration (UTC when no zone is given).
    .PARAMETER SyncNow
    Triggers an incremental sync for the user.
    .PARAMETER BadItemLimit
    Maximum number of bad items skipped before the user fails: an integer or 'Unlimited'.
    .PARAMETER LargeItemLimit
    Maximum number of too-large items skipped before the user fails: an integer or 'Unlimited'.
    .PARAMETER Partition
    Reserved for internal Microsoft use in Exchange; accepted and ignored.
    .EXAMPLE
    Set-MigrationUser -Identity laura@contoso.com -SyncNow

    Syncs one user now.
    .EXAMPLE
    Get-MigrationUser -BatchId IMAPBatch1 | Set-MigrationUser -LargeItemLimit 10

    Lets every user of the batch skip up to ten oversized items.
    .OUTPUTS
    None
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium', PositionalBinding = $false)]
    [OutputType([void])]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipeline, ValueFromPipelineByPropertyName)]
        [object]$Identity,

        [switch]$ApproveSkippedItems,
        [ImapMigration.NotGivenWhenNull('CompleteAfter')][datetime]$CompleteAfter,
        [ImapMigration.NotGivenWhenNull('StartAfter')][datetime]$StartAfter,
        [switch]$SyncNow,
        [object]$BadItemLimit,
        [object]$LargeItemLimit,
        [object]$Partition
    )

    begin { [ImapMigration.Invocation]::Initialize($PSCmdlet, $ExecutionContext.SessionState, @()) }

    process {
        $id = ConvertTo-MigIdentityString $Identity
        $arguments = @{ identity = $id }
        if ($SyncNow) { $arguments['syncNow'] = $true }
        if ($PSBoundParameters.ContainsKey('StartAfter')) { $arguments['startAfter'] = ConvertTo-MigUtcString -DateTime $StartAfter }
        if ($PSBoundParameters.ContainsKey('CompleteAfter')) { $arguments['completeAfter'] = ConvertTo-MigUtcString -DateTime $CompleteAfter }
        if ($PSBoundParameters.ContainsKey('BadItemLimit')) { $arguments['badItemLimit'] = ConvertTo-MigUnlimited -Value $BadItemLimit -ParameterName BadItemLimit -Cmdlet $PSCmdlet }
        if ($PSBoundParameters.ContainsKey('LargeItemLimit')) { $arguments['largeItemLimit'] = ConvertTo-MigUnlimited -Value $LargeItemLimit -ParameterName LargeItemLimit -Cmdlet $PSCmdlet }
        if ($ApproveSkippedItems) { Write-Verbose 'IMAP migrations need no approval of skipped items; -ApproveSkippedItems changes nothing.' }
        if ($arguments.Count -eq 1) {
            Write-Verbose "No setting of migration user '$id' to change."
            return
        }
        if (-not $PSCmdlet.ShouldProcess($id, 'Change migration user')) { return }
        $result = Invoke-MigNative -Operation 'user.set' -Arguments $arguments -Cmdlet $PSCmdlet -TargetObject $id -NonTerminating
        if ($null -ne $result -and $SyncNow) { Invoke-MigWorkerEnsure -Cmdlet $PSCmdlet }
    }
}
