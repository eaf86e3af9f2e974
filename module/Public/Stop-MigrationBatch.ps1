function Stop-MigrationBatch {
    <#
    .SYNOPSIS
    Stops an IMAP migration batch.
    .DESCRIPTION
    Stop-MigrationBatch stops the users being migrated and the incremental syncs of a Syncing or Synced batch (status Stopping, then Stopped). Mailboxes already copied are kept. It asks for confirmation unless -Confirm:$false is given.
    .PARAMETER Identity
    The batch: its name or GUID, or a batch object from Get-MigrationBatch. Omitted: the only batch
    there is; with no batch or several, the cmdlet fails.
    .PARAMETER Partition
    Reserved for internal Microsoft use in Exchange; accepted and ignored.
    .EXAMPLE
    Stop-MigrationBatch -Identity IMAPBatch1

    Stops the batch IMAPBatch1 after confirmation.
    .EXAMPLE
    Get-MigrationBatch -Status Syncing | Stop-MigrationBatch -Confirm:$false

    Stops every syncing batch without prompting.
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
        Invoke-MigBatchAction -Cmdlet $PSCmdlet -Operation 'batch.stop' -Action 'Stop migration batch' -Identity $Identity
    }
}
