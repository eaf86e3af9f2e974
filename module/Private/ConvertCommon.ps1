# Shared conversion of native results (PascalCase JSON, RFC 3339 UTC dates) into PowerShell objects.

# Property names that hold dates in native results (docs/design.md result shapes).
$script:DatePropertyPattern = '^(?:.*DateTime(?:UTC)?|.*Time(?:UTC)?|StartAfter(?:UTC)?|CompleteAfter(?:UTC)?|HeartbeatAt|Date(?:Sent|Received))$'

function ConvertTo-MigDateTime {
    <#
    .SYNOPSIS
    An RFC 3339 string (or a DateTime) as a [DateTime] of Kind Utc; $null stays $null.
    #>
    [CmdletBinding()]
    param([AllowNull()][object]$Value)
    if ($null -eq $Value -or ($Value -is [string] -and -not $Value)) { return $null }
    if ($Value -is [datetime]) {
        switch ($Value.Kind) {
            'Utc' { return $Value }
            'Local' { return $Value.ToUniversalTime() }
            default { return [datetime]::SpecifyKind($Value, [System.DateTimeKind]::Utc) }
        }
    }
    if ($Value -is [System.DateTimeOffset]) { return $Value.UtcDateTime }
    $parsed = [System.DateTimeOffset]::MinValue
    if ([System.DateTimeOffset]::TryParse([string]$Value, [System.Globalization.CultureInfo]::InvariantCulture,
            [System.Globalization.DateTimeStyles]::AssumeUniversal, [ref]$parsed)) {
        return $parsed.UtcDateTime
    }
    $Value
}

function ConvertTo-MigPlainObject {
    <#
    .SYNOPSIS
    Copies a parsed JSON object, converting date properties (recursively in nested objects and arrays).
    Properties listed in -Converters are produced by their scriptblock instead.
    #>
    [CmdletBinding()]
    param(
        [AllowNull()][object]$InputObject,
        [string]$TypeName,
        [hashtable]$Converters = @{}
    )
    if ($null -eq $InputObject) { return $null }
    if ($InputObject -isnot [System.Management.Automation.PSCustomObject]) { return $InputObject }
    $copy = [ordered]@{}
    foreach ($p in $InputObject.PSObject.Properties) {
        $name = $p.Name
        $value = $p.Value
        if ($Converters.ContainsKey($name)) {
            $copy[$name] = & $Converters[$name] $value
        }
        elseif ($name -match $script:DatePropertyPattern -and ($value -is [string] -or $value -is [datetime])) {
            $copy[$name] = ConvertTo-MigDateTime $value
        }
        elseif ($value -is [System.Management.Automation.PSCustomObject]) {
            $copy[$name] = ConvertTo-MigPlainObject -InputObject $value
        }
        elseif ($value -is [array]) {
            $copy[$name] = @(foreach ($item in $value) { ConvertTo-MigPlainObject -InputObject $item })
        }
        else {
            $copy[$name] = $value
        }
    }
    $result = [pscustomobject]$copy
    if ($TypeName) { $result.PSObject.TypeNames.Insert(0, $TypeName) }
    $result
}

function ConvertTo-MigStatus {
    [CmdletBinding()]
    param([AllowNull()][object]$Value, [Parameter(Mandatory)][ValidateSet('Batch', 'User', 'UserSummary')][string]$Kind)
    if ($null -eq $Value) { return $null }
    $text = if ($Value.PSObject.Properties['Value']) { [string]$Value.Value } else { [string]$Value }
    switch ($Kind) {
        'Batch' { [ImapMigration.MigrationBatchStatus]::new($text) }
        'User' { [ImapMigration.MigrationUserStatus]::new($text) }
        'UserSummary' { [ImapMigration.MigrationUserStatusSummary]::new($text) }
    }
}

function ConvertTo-MigBatchId {
    [CmdletBinding()]
    param([AllowNull()][object]$Value)
    if ($null -eq $Value) { return $null }
    if ($Value -is [string]) { return [ImapMigration.MigrationBatchId]::new($Value) }
    [ImapMigration.MigrationBatchId]::new([string]$Value.Id, [string]$Value.Name, [string]$Value.JobId)
}

function ConvertTo-MigEndpointId {
    [CmdletBinding()]
    param([AllowNull()][object]$Value)
    if ($null -eq $Value) { return $null }
    if ($Value -is [string]) { return [ImapMigration.MigrationEndpointId]::new($Value) }
    [ImapMigration.MigrationEndpointId]::new([string]$Value.Id, [string]$Value.Guid)
}

function ConvertTo-MigUserId {
    [CmdletBinding()]
    param([AllowNull()][object]$Value)
    if ($null -eq $Value) { return $null }
    if ($Value -is [string]) { return [ImapMigration.MigrationUserId]::new($Value) }
    [ImapMigration.MigrationUserId]::new([string]$Value.Id, [string]$Value.JobItemGuid)
}
