function Start-MigrationUser {
    <#
    .SYNOPSIS
    Starts or resumes the migration of one user within its batch.
    .DESCRIPTION
    Start-MigrationUser starts a stopped or failed user again (status Starting, then Syncing); the rest of the batch is unaffected. The background worker does the work; the cmdlet returns at once.
    .PARAMETER Identity
    Email address or GUID of the user, or a user object from Get-MigrationUser.
    .PARAMETER Partition
    Reserved for internal Microsoft use in Exchange; accepted and ignored.
    .EXAMPLE
    Start-MigrationUser -Identity laura@contoso.com

    Starts the user again.
    .EXAMPLE
    Get-MigrationUser -BatchId IMAPBatch1 -Status Failed | Start-MigrationUser -Confirm:$false

    Retries every failed user of the batch.
    .OUTPUTS
    None
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium', PositionalBinding = $false)]
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
        if (-not $PSCmdlet.ShouldProcess($id, 'Start migration user')) { return }
        $result = Invoke-MigNative -Operation 'user.start' -Arguments @{ identity = $id } -Cmdlet $PSCmdlet -TargetObject $id -NonTerminating
        if ($null -ne $result) { Invoke-MigWorkerEnsure -Cmdlet $PSCmdlet }
    }
}
