function Start-MigrationBatch {
    <#
    .SYNOPSIS
    Starts, resumes or retries an IMAP migration batch.
    .DESCRIPTION
    Start-MigrationBatch starts a batch never started (shown Stopped), resumes a stopped one, and retries the failed users of a Failed, SyncedWithErrors or CompletedWithErrors batch, or of a batch that is still syncing (it keeps running). The background worker does the work; the cmdlet returns at once (status Starting, then Syncing). Poll Get-MigrationBatch for the Status.
    .PARAMETER Identity
    The batch: its name or GUID, or a batch object from Get-MigrationBatch. Omitted: the only batch
    there is; with no batch or several, the cmdlet fails.
    .PARAMETER Partition
    Reserved for internal Microsoft use in Exchange; accepted and ignored.
    .EXAMPLE
    Start-MigrationBatch -Identity IMAPBatch1

    Starts the batch IMAPBatch1.
    .EXAMPLE
    Get-MigrationBatch -Status Stopped | Start-MigrationBatch

    Resumes every stopped batch.
    .OUTPUTS
    None
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium', PositionalBinding = $false)]
    [OutputType([void])]
    param(
        [Parameter(Position = 0, ValueFromPipeline, ValueFromPipelineByPropertyName)]
        [AllowNull()]
        [object]$Identity,

        [object]$Partition
    )

    begin { [ImapMigration.Invocation]::Initialize($PSCmdlet, $ExecutionContext.SessionState, @()) }

    process {
        Invoke-MigBatchAction -Cmdlet $PSCmdlet -Operation 'batch.start' -Action 'Start migration batch' -Identity $Identity
    }
}
