function Remove-MigrationEndpoint {
    <#
    .SYNOPSIS
    Removes a migration endpoint.
    .DESCRIPTION
    Remove-MigrationEndpoint deletes an endpoint that no migration batch uses; an endpoint still
    in use is refused (InvalidState). It asks for confirmation unless -Confirm:$false is given.
    .PARAMETER Identity
    Name or GUID of the endpoint, or an endpoint object.
    .PARAMETER Partition
    Reserved for internal Microsoft use in Exchange; accepted and ignored.
    .EXAMPLE
    Remove-MigrationEndpoint -Identity IMAPEndpoint

    Removes the endpoint after confirmation.
    .EXAMPLE
    Get-MigrationEndpoint -Type IMAP | Remove-MigrationEndpoint -Confirm:$false

    Removes all IMAP endpoints without prompting.
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
        if (-not $PSCmdlet.ShouldProcess($id, 'Remove migration endpoint')) { return }
        $null = Invoke-MigNative -Operation 'endpoint.remove' -Arguments @{ identity = $id } -Cmdlet $PSCmdlet -TargetObject $id -NonTerminating
    }
}
