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
    Copies a parsed JSON object, converting date properties (recursively in nested objects and
    arrays) and arrays into MultiValuedProperty lists; properties listed in -Converters are
    produced by their scriptblock instead. With -TypeName the copy carries that type name and its
    properties follow the type's order ($script:MigPropertyOrder). -Computed adds properties the
    module derives: each scriptblock gets the converted properties (an ordered dictionary).
    #>
    [CmdletBinding()]
    param(
        [AllowNull()][object]$InputObject,
        [string]$TypeName,
        [hashtable]$Converters = @{},
        [hashtable]$Computed = @{}
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
            $copy[$name] = ConvertTo-MigList $value { param($item) ConvertTo-MigPlainObject -InputObject $item }
        }
        else {
            $copy[$name] = $value
        }
    }
    foreach ($name in $Computed.Keys) {
        if (-not $copy.Contains($name)) { $copy[$name] = & $Computed[$name] $copy }
    }
    if ($TypeName -and $script:MigPropertyOrder.ContainsKey($TypeName)) {
        $ordered = [ordered]@{}
        foreach ($name in $script:MigPropertyOrder[$TypeName]) {
            if ($copy.Contains($name)) { $ordered[$name] = $copy[$name] }
        }
        foreach ($name in $copy.Keys) {
            if (-not $ordered.Contains($name)) { $ordered[$name] = $copy[$name] }
        }
        $copy = $ordered
    }
    $result = [pscustomobject]$copy
    if ($TypeName) { $result.PSObject.TypeNames.Insert(0, $TypeName) }
    $result
}

function ConvertTo-MigList {
    <#
    .SYNOPSIS
    The items of a JSON array (or $null: no items) as an ImapMigration.MultiValuedProperty, each
    item produced by -Converter. Returned wrapped, so the pipeline does not unroll it.
    #>
    [CmdletBinding()]
    param([AllowNull()][object]$Items, [scriptblock]$Converter = { param($item) $item })
    $list = [ImapMigration.MultiValuedProperty]::new()
    foreach ($item in @($Items)) {
        if ($null -ne $item) { $list.Add((& $Converter $item)) }
    }
    , $list
}

function ConvertTo-MigByteSize {
    <#
    .SYNOPSIS
    A number of bytes as an ImapMigration.ByteQuantifiedSize; $null stays $null.
    #>
    [CmdletBinding()]
    param([AllowNull()][object]$Value)
    if ($null -eq $Value -or ($Value -is [string] -and -not $Value)) { return $null }
    if ($Value -is [ImapMigration.ByteQuantifiedSize]) { return $Value }
    [ImapMigration.ByteQuantifiedSize]::new([uint64]$Value)
}

function ConvertTo-MigReportEntry {
    <#
    .SYNOPSIS
    A report line of -IncludeReport ({CreationTime, Level, Message}) as an ImapMigration.MigrationReportEntry.
    #>
    [CmdletBinding()]
    param([AllowNull()][object]$InputObject)
    ConvertTo-MigPlainObject -InputObject $InputObject -TypeName 'ImapMigration.MigrationReportEntry'
}

function Format-MigDiagnosticInfo {
    <#
    .SYNOPSIS
    DiagnosticInfo text: one "Name: value" line per fact the engine returned, in the given order;
    facts without a value are left out.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param([Parameter(Mandatory)][System.Collections.Specialized.OrderedDictionary]$Facts)
    $lines = foreach ($key in $Facts.Keys) {
        $value = $Facts[$key]
        if ($null -eq $value -or "$value" -eq '') { continue }
        if ($value -is [datetime]) { $value = $value.ToString('yyyy-MM-dd HH:mm:ss', [System.Globalization.CultureInfo]::InvariantCulture) + 'Z' }
        "{0}: {1}" -f $key, $value
    }
    $lines -join [System.Environment]::NewLine
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

