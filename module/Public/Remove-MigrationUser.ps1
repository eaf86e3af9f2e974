function Remove-MigrationUser {
    <#
    .SYNOPSIS
    Removes one user from its migration batch.
    .DESCRIPTION
    Remove-MigrationUser ends the migration of one user and deletes its migration state; mail already copied stays in the target. The user's batch must not be syncing it at that moment (stop the user or the batch first). It asks for confirmation unless -Confirm:$false is given.
    .PARAMETER Identity
    Email address or GUID of the user, or a user object from Get-MigrationUser.
    .PARAMETER Partition
    Reserved for internal Microsoft use in Exchange; accepted and ignored.
    .EXAMPLE
    Remove-MigrationUser -Identity laura@contoso.com

    Removes the user after confirmation.
    .EXAMPLE
    Get-MigrationUser -BatchId IMAPBatch1 -Status Failed | Remove-MigrationUser -Confirm:$false

    Removes every failed user of the batch without prompting.
    .OUTPUTS
    None
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High', PositionalBinding = $false)]
    [OutputType([void])]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipeline, ValueFromPipelineByPropertyName)]
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
        if (-not $PSCmdlet.ShouldProcess($id, 'Remove migration user')) { return }
        $null = Invoke-MigNative -Operation 'user.remove' -Arguments @{ identity = $id } -Cmdlet $PSCmdlet -TargetObject $id -NonTerminating
    }
}
