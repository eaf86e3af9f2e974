function ConvertTo-MigrationEndpointObject {
    <#
    .SYNOPSIS
    A native Endpoint result as an ImapMigration.MigrationEndpoint object.
    #>
    [CmdletBinding()]
    param([AllowNull()][object]$InputObject)
    if ($null -eq $InputObject) { return }
    ConvertTo-MigPlainObject -InputObject $InputObject -TypeName 'ImapMigration.MigrationEndpoint' -Converters @{
        Identity = { param($v) ConvertTo-MigEndpointId $v }
    }
}

function ConvertTo-TestMigrationServerAvailabilityResultObject {
    [CmdletBinding()]
    param([AllowNull()][object]$InputObject)
    if ($null -eq $InputObject) { return }
    ConvertTo-MigPlainObject -InputObject $InputObject -TypeName 'ImapMigration.TestMigrationServerAvailabilityResult' -Converters @{
        ConnectionSettings = { param($v) ConvertTo-MigPlainObject -InputObject $v -TypeName 'ImapMigration.ImapConnectionSettings' }
    }
}
