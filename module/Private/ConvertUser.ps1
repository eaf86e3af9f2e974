function ConvertTo-MigrationUserObject {
    <#
    .SYNOPSIS
    A native User (or UserStatistics with -Statistics) result as an ImapMigration.MigrationUser(Statistics) object.
    #>
    [CmdletBinding()]
    param([AllowNull()][object]$InputObject, [switch]$Statistics)
    if ($null -eq $InputObject) { return }
    $typeName = if ($Statistics) { 'ImapMigration.MigrationUserStatistics' } else { 'ImapMigration.MigrationUser' }
    ConvertTo-MigPlainObject -InputObject $InputObject -TypeName $typeName -Converters @{
        Identity      = { param($v) ConvertTo-MigUserId $v }
        BatchId       = { param($v) ConvertTo-MigBatchId $v }
        Status        = { param($v) ConvertTo-MigStatus $v -Kind User }
        StatusSummary = { param($v) ConvertTo-MigStatus $v -Kind UserSummary }
        SkippedItems  = { param($v) , @(foreach ($i in $v) { ConvertTo-MigPlainObject -InputObject $i -TypeName 'ImapMigration.MigrationSkippedItem' }) }
    }
}
