function Stop-MigrationUser {
    <#
    .SYNOPSIS
    Stops the migration of one user within its batch.
    .DESCRIPTION
    Stop-MigrationUser stops one user (status Stopping, then Stopped, or IncrementalStopped after the initial sync); the rest of the batch keeps syncing. It asks for confirmation unless -Confirm:$false is given.
    .PARAMETER Identity
    Email address or GUID of the user, or a user object from Get-MigrationUser.
    .PARAMETER Partition
    Reserved for internal Microsoft use in Exchange; accepted and ignored.
    .EXAMPLE
    Stop-MigrationUser -Identity laura@contoso.com

    Stops the user after confirmation.
    .EXAMPLE
    Get-MigrationUser -BatchId IMAPBatch1 -Status Syncing | Stop-MigrationUser -Confirm:$false

    Stops every syncing user of the batch without prompting.
    .OUTPUTS
    None
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High', PositionalBinding = $false)]
    [OutputType([void])]
    param(
        [Parameter(Position = 0, ValueFromPipeline, ValueFromPipelineByPropertyName)]
        [object]$Identity,

        [object]$Partition
    )

    begin { [ImapMigration.Invocation]::Initialize($PSCmdlet, $ExecutionContext.SessionState, @()) }

    process {
        $id = ConvertTo-MigIdentityString $Identity
        if (-not $id) {
            $PSCmdlet.ThrowTerminatingError((New-MigErrorRecord -Code InvalidArgument -TargetObject $null `
                        -Message 'Give the user to act on with -Identity (email address or GUID), or pipe users from Get-MigrationUser.'))
        }
        if (-not $PSCmdlet.ShouldProcess($id, 'Stop migration user')) { return }
        $null = Invoke-MigNative -Operation 'user.stop' -Arguments @{ identity = $id } -Cmdlet $PSCmdlet -TargetObject $id -NonTerminating
    }
}
