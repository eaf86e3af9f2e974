function ConvertTo-MigrationStatisticsObject {
    [CmdletBinding()]
    param([AllowNull()][object]$InputObject)
    if ($null -eq $InputObject) { return }
    ConvertTo-MigPlainObject -InputObject $InputObject -TypeName 'ImapMigration.MigrationStatistics'
}

function ConvertTo-MigTimeSpan {
    # Seconds from the library as a TimeSpan (the stall limits of Get-MigrationConfig).
    param([AllowNull()][object]$Seconds)
    if ($null -eq $Seconds) { return $null }
    [timespan]::FromSeconds([double]$Seconds)
}

function ConvertTo-MigrationConfigObject {
    [CmdletBinding()]
    param([AllowNull()][object]$InputObject)
    if ($null -eq $InputObject) { return }
    ConvertTo-MigPlainObject -InputObject $InputObject -TypeName 'ImapMigration.MigrationConfig' -Converters @{
        DefaultTargetEndpoint = { param($v) if ($v -is [System.Management.Automation.PSCustomObject]) { ConvertTo-MigrationEndpointObject $v } else { $v } }
        SmtpRelay             = { param($v) ConvertTo-MigPlainObject -InputObject $v -TypeName 'ImapMigration.SmtpRelaySettings' }
        ConnectTimeout        = { param($v) ConvertTo-MigTimeSpan $v }
        GreetingTimeout       = { param($v) ConvertTo-MigTimeSpan $v }
        TlsTimeout            = { param($v) ConvertTo-MigTimeSpan $v }
        LoginTimeout          = { param($v) ConvertTo-MigTimeSpan $v }
        IdleTimeout           = { param($v) ConvertTo-MigTimeSpan $v }
        Workers               = { param($v) ConvertTo-MigList $v { param($w) ConvertTo-MigPlainObject -InputObject $w -TypeName 'ImapMigration.MigrationWorker' } }
    }
}
