function Get-MigrationBatch {
    <#
    .SYNOPSIS
    Gets IMAP migration batches and their status.
    .DESCRIPTION
    Get-MigrationBatch reads the batches from the state store (it never waits for the worker):
    one by -Identity, those that use an -Endpoint, those in a -Status, or all of them. A $null
    Identity returns all batches. Status compares equal to plain strings ($b.Status -eq 'Synced')
    and exposes .Value, as in Exchange.
    .PARAMETER Identity
    Name or GUID of the batch, or an object that has an Identity.
    .PARAMETER Endpoint
    Returns the batches that use this endpoint (name, GUID or endpoint object).
    .PARAMETER Status
    Returns the batches in this status, e.g. Stopped, Syncing, Synced, SyncedWithErrors, Completed, Failed; Created returns the batches never started.
    .PARAMETER IncludeReport
    Fills the Report property with the batch's event log.
    .PARAMETER ResultSize
    Maximum number of batches returned: an integer or 'Unlimited'. Default 1000.
    .PARAMETER DiagnosticInfo
    Exchange support diagnostics; accepted and ignored.
    .PARAMETER Partition
    Reserved for internal Microsoft use in Exchange; accepted and ignored.
    .EXAMPLE
    Get-MigrationBatch -Identity IMAPBatch1 | Format-List Status

    Shows the status of one batch.
    .EXAMPLE
    do { Start-Sleep 300; $b = Get-MigrationBatch IMAPBatch1 } until ($b.Status -in 'Synced','SyncedWithErrors','Failed','Stopped')

    Waits until the batch has finished its initial sync.
    .EXAMPLE
    Get-MigrationBatch -Status Syncing

    Lists the batches being synced.
    .OUTPUTS
    ImapMigration.MigrationBatch
    #>
    [CmdletBinding(DefaultParameterSetName = 'Identity', PositionalBinding = $false)]
    [OutputType('ImapMigration.MigrationBatch')]
    param(
        [Parameter(Position = 0, ValueFromPipeline, ValueFromPipelineByPropertyName, ParameterSetName = 'Identity')]
        [AllowNull()]
        [object]$Identity,

        [Parameter(Mandatory, ParameterSetName = 'BatchesFromEndpoint')]
        [Parameter(Mandatory, ParameterSetName = 'BatchesByEndpoint')]
        [object]$Endpoint,

        [Parameter(ParameterSetName = 'Identity')]
        [Parameter(Mandatory, ParameterSetName = 'BatchesFromEndpoint')]
        [Parameter(ParameterSetName = 'BatchesByStatus')]
        [string]$Status,

        [switch]$IncludeReport,

        [Parameter(ParameterSetName = 'Identity')]
        [Parameter(ParameterSetName = 'BatchesByEndpoint')]
        [Parameter(ParameterSetName = 'BatchesByStatus')]
        [object]$ResultSize,

        [Parameter(ParameterSetName = 'Identity')]
        [Parameter(ParameterSetName = 'BatchesByEndpoint')]
        [Parameter(ParameterSetName = 'BatchesByStatus')]
        [ImapMigration.NotGivenWhenNull('DiagnosticInfo')][string]$DiagnosticInfo,

        [Parameter(ParameterSetName = 'Identity')]
        [Parameter(ParameterSetName = 'BatchesByEndpoint')]
        [Parameter(ParameterSetName = 'BatchesByStatus')]
        [object]$Partition
    )

    begin { [ImapMigration.Invocation]::Initialize($PSCmdlet, $ExecutionContext.SessionState, @()) }

    process {
        $arguments = @{}
        $id = ConvertTo-MigIdentityString $Identity
        if ($id) { $arguments['identity'] = $id }
        if ($PSBoundParameters.ContainsKey('Endpoint')) { $arguments['endpoint'] = ConvertTo-MigIdentityString $Endpoint }
        if ($PSBoundParameters.ContainsKey('Status') -and $Status) {
            # Every status Exchange documents is a valid filter, in any case; one the engine never
            # produces matches no batch.
            $known = @([ImapMigration.MigrationBatchStatus]::All | Where-Object { $_ -eq $Status })
            if (-not $known) {
                $PSCmdlet.WriteError((New-MigErrorRecord -Code InvalidArgument -TargetObject $Status -Details ([pscustomobject]@{ parameter = 'status' }) `
                            -Message "The batch status '$Status' is not valid. Valid values: $([ImapMigration.MigrationBatchStatus]::All -join ', ')."))
                return
            }
            $arguments['status'] = $known[0]
        }
        if ($IncludeReport) { $arguments['includeReport'] = $true }
        if ($PSBoundParameters.ContainsKey('ResultSize')) {
            $size = ConvertTo-MigUnlimited -Value $ResultSize -ParameterName ResultSize -Cmdlet $PSCmdlet
            if ($size -ne 'Unlimited') { $arguments['resultSize'] = $size }
        }
        $result = if ($arguments.ContainsKey('status')) {
            Invoke-MigNativeQuery -Cmdlet $PSCmdlet -Operation 'batch.get' -Arguments $arguments -TargetObject $id -FilterParameter 'status'
        }
        else {
            Invoke-MigNative -Operation 'batch.get' -Arguments $arguments -Cmdlet $PSCmdlet -TargetObject $id -NonTerminating
        }
        foreach ($item in @($result)) {
            if ($null -ne $item) { ConvertTo-MigrationBatchObject $item }
        }
    }
}
