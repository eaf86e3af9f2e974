function Remove-MigrationBatch {
    <#
    .SYNOPSIS
    Removes an IMAP migration batch.
    .DESCRIPTION
    Remove-MigrationBatch ends the migration of a batch that is not running (or stops it first in the worker) and deletes the batch and its users' migration state; the copied mail stays in the target. Get-MigrationBatch then shows the batch as Removing or reports that it cannot be found. It asks for confirmation unless -Confirm:$false is given.
    .PARAMETER Identity
    The batch: its name or GUID, or a batch object from Get-MigrationBatch. Omitted: the only batch
    there is; with no batch or several, the cmdlet fails.
    .PARAMETER Partition
    Reserved for internal Microsoft use in Exchange; accepted and ignored.
    .EXAMPLE
    Remove-MigrationBatch -Identity IMAPBatch1

    Removes the batch IMAPBatch1 after confirmation.
    .EXAMPLE
    Get-MigrationBatch -Status Stopped | Remove-MigrationBatch -Confirm:$false

    Removes every stopped batch without prompting.
    .OUTPUTS
    None
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High', PositionalBinding = $false)]
    [OutputType([void])]
    param(
        [Parameter(Position = 0, ValueFromPipeline, ValueFromPipelineByPropertyName)]
        [AllowNull()]
        [object]$Identity,

        [object]$Partition
    )

    begin { [ImapMigration.Invocation]::Initialize($PSCmdlet, $ExecutionContext.SessionState, @()) }

    process {
        Invoke-MigBatchAction -Cmdlet $PSCmdlet -Operation 'batch.remove' -Action 'Remove migration batch' -Identity $Identity
    }
}
