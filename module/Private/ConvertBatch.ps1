function ConvertTo-MigrationBatchObject {
    <#
    .SYNOPSIS
    A native Batch result as an ImapMigration.MigrationBatch object (Status wrapper, identity objects, UTC dates).
    #>
    [CmdletBinding()]
    param([AllowNull()][object]$InputObject)
    if ($null -eq $InputObject) { return }
    ConvertTo-MigPlainObject -InputObject $InputObject -TypeName 'ImapMigration.MigrationBatch' -Converters @{
        Identity           = { param($v) ConvertTo-MigBatchId $v }
        Status             = { param($v) ConvertTo-MigStatus $v -Kind Batch }
        SourceEndpoint     = { param($v) ConvertTo-MigrationEndpointObject $v }
        TargetEndpoint     = { param($v) ConvertTo-MigrationEndpointObject $v }
        ValidationWarnings = { param($v) , @(foreach ($w in $v) { ConvertTo-MigPlainObject -InputObject $w -TypeName 'ImapMigration.MigrationBatchError' }) }
        Reports            = { param($v) , @(foreach ($r in $v) { ConvertTo-MigPlainObject -InputObject $r -TypeName 'ImapMigration.MigrationReportSet' }) }
    }
}
