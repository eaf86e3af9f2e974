function Complete-MigrationBatch {
    <#
    .SYNOPSIS
    Completes an IMAP migration batch: a final incremental sync, then Completed.
    .DESCRIPTION
    Extension: Exchange Online refuses Complete-MigrationBatch for IMAP batches, which have no
    finalization step. This engine accepts it for a Synced or SyncedWithErrors batch: the worker
    runs one last incremental sync for every user and then marks the batch Completed (or
    CompletedWithErrors), after which it no longer syncs. Run it after the MX switch-over instead
    of leaving the batch syncing. It asks for confirmation unless -Confirm:$false is given.
    .PARAMETER Identity
    The batch: its name or GUID, or a batch object from Get-MigrationBatch. Omitted: the only batch
    there is; with no batch or several, the cmdlet fails.
    .PARAMETER Partition
    Reserved for internal Microsoft use in Exchange; accepted and ignored.
    .PARAMETER SyncAndComplete
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER CompletePublicFolderMigrationWithDataLoss
    Exchange parameter for another migration type; refused for IMAP migrations.
    .EXAMPLE
    Complete-MigrationBatch -Identity IMAPBatch1

    Runs the final sync of IMAPBatch1 and completes it, after confirmation.
    .EXAMPLE
    Get-MigrationBatch -Status Synced | Complete-MigrationBatch -Confirm:$false

    Completes every synced batch without prompting.
    .OUTPUTS
    None
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High', PositionalBinding = $false)]
    [OutputType([void])]
    param(
        [Parameter(Position = 0, ValueFromPipeline, ValueFromPipelineByPropertyName)]
        [AllowNull()]
        [object]$Identity,

        [object]$Partition,

        [switch]$SyncAndComplete,
        [switch]$CompletePublicFolderMigrationWithDataLoss
    )

    begin {
        [ImapMigration.Invocation]::Initialize($PSCmdlet, $ExecutionContext.SessionState, @())
        Assert-MigSupportedParameter -Cmdlet $PSCmdlet -Unsupported 'SyncAndComplete', 'CompletePublicFolderMigrationWithDataLoss'
    }

    process {
        Invoke-MigBatchAction -Cmdlet $PSCmdlet -Operation 'batch.complete' -Action 'Complete migration batch' -Identity $Identity
    }
}
