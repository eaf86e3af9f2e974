function Get-MigrationConfig {
    <#
    .SYNOPSIS
    Gets the migration settings of this installation.
    .DESCRIPTION
    Get-MigrationConfig returns the limits and features (MaxNumberOfBatches,
    MaxConcurrentMigrations, Features, CanSubmitNewBatch) and, as extensions, the default target
    endpoint, the SMTP relay for reports (without secrets), the incremental sync interval, the
    memory budget, the stall limits of IMAP connections in force (ConnectTimeout,
    GreetingTimeout, TlsTimeout, LoginTimeout and IdleTimeout as TimeSpans, MinTransferRate in
    bytes per second; set with Set-MigrationConfig, overridden by the IMAPMIGRATION_TIMEOUT_*
    and IMAPMIGRATION_MIN_RATE environment variables) and the background workers (Workers).
    .PARAMETER Partition
    Reserved for internal Microsoft use in Exchange; accepted and ignored.
    .PARAMETER AllPartitions
    Returns the configuration of all partitions; there is one, so the result is the same.
    .PARAMETER IncludeSimplifiedGmailMigrationData
    Exchange parameter; accepted and ignored.
    .EXAMPLE
    Get-MigrationConfig | Format-List

    Shows all migration settings.
    .OUTPUTS
    ImapMigration.MigrationConfig
    #>
    [CmdletBinding(DefaultParameterSetName = 'Partition', PositionalBinding = $false)]
    [OutputType('ImapMigration.MigrationConfig')]
    param(
        [Parameter(ParameterSetName = 'Partition')]
        [object]$Partition,

        [Parameter(Mandatory, ParameterSetName = 'AllPartitions')]
        [switch]$AllPartitions,

        [switch]$IncludeSimplifiedGmailMigrationData
    )

    [ImapMigration.Invocation]::Initialize($PSCmdlet, $ExecutionContext.SessionState, @())
    $result = Invoke-MigNative -Operation 'config.get' -Cmdlet $PSCmdlet -NonTerminating
    ConvertTo-MigrationConfigObject $result
}
