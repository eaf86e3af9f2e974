function Get-MigrationStatistics {
    <#
    .SYNOPSIS
    Gets the migration counters summed over all batches.
    .DESCRIPTION
    Get-MigrationStatistics returns one object with the number of migration users in total and
    per state (active, stopped, synced, finalized, failed, pending, provisioned) across all batches.
    .PARAMETER DiagnosticInfo
    Exchange support diagnostics; accepted and ignored.
    .PARAMETER Partition
    Reserved for internal Microsoft use in Exchange; accepted and ignored.
    .EXAMPLE
    Get-MigrationStatistics

    Shows the counters of all batches.
    .OUTPUTS
    ImapMigration.MigrationStatistics
    #>
    [CmdletBinding(PositionalBinding = $false)]
    [OutputType('ImapMigration.MigrationStatistics')]
    param(
        [ImapMigration.NotGivenWhenNull('DiagnosticInfo')][string]$DiagnosticInfo,
        [object]$Partition
    )

    [ImapMigration.Invocation]::Initialize($PSCmdlet, $ExecutionContext.SessionState, @())
    $result = Invoke-MigNative -Operation 'statistics.get' -Cmdlet $PSCmdlet -NonTerminating
    ConvertTo-MigrationStatisticsObject $result
}
