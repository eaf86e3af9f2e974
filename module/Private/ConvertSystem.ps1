function ConvertTo-MigrationStatisticsObject {
    [CmdletBinding()]
    param([AllowNull()][object]$InputObject)
    if ($null -eq $InputObject) { return }
    ConvertTo-MigPlainObject -InputObject $InputObject -TypeName 'ImapMigration.MigrationStatistics'
}

function ConvertTo-MigrationConfigObject {
    [CmdletBinding()]
    param([AllowNull()][object]$InputObject)
    if ($null -eq $InputObject) { return }
    ConvertTo-MigPlainObject -InputObject $InputObject -TypeName 'ImapMigration.MigrationConfig' -Converters @{
        DefaultTargetEndpoint = { param($v) if ($v -is [System.Management.Automation.PSCustomObject]) { ConvertTo-MigrationEndpointObject $v } else { $v } }
        SmtpRelay             = { param($v) ConvertTo-MigPlainObject -InputObject $v -TypeName 'ImapMigration.SmtpRelaySettings' }
    }
}
