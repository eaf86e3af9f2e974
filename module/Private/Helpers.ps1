# Argument helpers shared by the public cmdlets: identities, dates, Unlimited values and the
# refusal of parameters that exist in Exchange only for other migration types.

function ConvertTo-MigIdentityString {
    <#
    .SYNOPSIS
    Turns whatever an admin passes as an identity into the string the engine resolves (name, email or GUID).
    .DESCRIPTION
    Accepts strings, GUIDs, our identity objects (MigrationBatchId, MigrationUserId, ...), our output
    objects (their Identity), and the hashtables admins return from Pester mocks (@{ Identity = 'X' },
    @{ Id = 'X' }). Only property names are used, never .NET types.
    #>
    # A plain function around compiled code: every cmdlet with an -Identity runs it first.
    [OutputType([string])]
    param([object]$InputObject)
    [ImapMigration.Identity]::ToIdentityString($InputObject)
}

function ConvertTo-MigUtcString {
    <#
    .SYNOPSIS
    RFC 3339 UTC text for a DateTime, following Exchange's rule: a DateTime without a zone (Kind
    Unspecified) is UTC unless -TimeZone names the zone it is in; Local times are converted.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [Parameter(Mandatory)][datetime]$DateTime,
        [string]$TimeZone
    )
    $utc = switch ($DateTime.Kind) {
        'Utc' { $DateTime }
        'Local' { $DateTime.ToUniversalTime() }
        default {
            if ($TimeZone) {
                $zone = Find-MigTimeZone -Name $TimeZone
                [System.TimeZoneInfo]::ConvertTimeToUtc($DateTime, $zone)
            }
            else { [datetime]::SpecifyKind($DateTime, [System.DateTimeKind]::Utc) }
        }
    }
    $utc.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", [System.Globalization.CultureInfo]::InvariantCulture)
}

function ConvertTo-MigUnlimited {
    <#
    .SYNOPSIS
    An Exchange "Unlimited" value: an integer, or 'Unlimited' (sent as the string "Unlimited").
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)][AllowNull()][object]$Value,
        [Parameter(Mandatory)][string]$ParameterName,
        [Parameter(Mandatory)][System.Management.Automation.PSCmdlet]$Cmdlet
    )
    if ($null -eq $Value -or "$Value" -eq 'Unlimited') { return 'Unlimited' }
    $number = 0L
    if ([long]::TryParse("$Value", [System.Globalization.NumberStyles]::Integer, [System.Globalization.CultureInfo]::InvariantCulture, [ref]$number) -and $number -ge 0) {
        return $number
    }
    $Cmdlet.ThrowTerminatingError((New-MigErrorRecord -Code InvalidArgument -TargetObject $Value `
                -Message "The value '$Value' of -$ParameterName is not valid: give a non-negative integer or 'Unlimited'."))
}

function ConvertTo-MigByteLimit {
    <#
    .SYNOPSIS
    A size limit in bytes for the engine: 'Unlimited', a number of bytes, or a size as Exchange
    writes one ('35 MB', '35MB', '1.5 GB', a ByteQuantifiedSize or its printed form).
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)][AllowNull()][object]$Value,
        [Parameter(Mandatory)][string]$ParameterName,
        [Parameter(Mandatory)][System.Management.Automation.PSCmdlet]$Cmdlet
    )
    if ($null -eq $Value -or "$Value" -eq 'Unlimited') { return 'Unlimited' }
    $bytes = $null
    if ($Value -is [ImapMigration.ByteQuantifiedSize]) { $bytes = $Value.ToBytes() }
    else {
        try { $bytes = [ImapMigration.ByteQuantifiedSize]::Parse("$Value").ToBytes() } catch { $bytes = $null }
    }
    if ($null -ne $bytes -and $bytes -gt 0) { return [uint64]$bytes }
    $Cmdlet.ThrowTerminatingError((New-MigErrorRecord -Code InvalidArgument -TargetObject $Value `
                -Message "The value '$Value' of -$ParameterName is not valid: give a size such as '35 MB', a number of bytes, or 'Unlimited'."))
}

function ConvertTo-MigCount {
    <#
    .SYNOPSIS
    A positive integer concurrency value (MaxConcurrentMigrations and friends).
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)][AllowNull()][object]$Value,
        [Parameter(Mandatory)][string]$ParameterName,
        [Parameter(Mandatory)][System.Management.Automation.PSCmdlet]$Cmdlet
    )
    $number = 0
    if ([int]::TryParse("$Value", [System.Globalization.NumberStyles]::Integer, [System.Globalization.CultureInfo]::InvariantCulture, [ref]$number) -and $number -gt 0) {
        return $number
    }
    $Cmdlet.ThrowTerminatingError((New-MigErrorRecord -Code InvalidArgument -TargetObject $Value `
                -Message "The value '$Value' of -$ParameterName is not valid: give a positive integer."))
}

function ConvertTo-MigSeconds {
    <#
    .SYNOPSIS
    A duration given as seconds (a number, or a number in a string) or as a TimeSpan (or its
    text, 00:00:30), in seconds; $null stays $null (revert to the default). The range is the
    library's to check.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)][AllowNull()][object]$Value,
        [Parameter(Mandatory)][string]$ParameterName,
        [Parameter(Mandatory)][System.Management.Automation.PSCmdlet]$Cmdlet
    )
    if ($null -eq $Value) { return $null }
    if ($Value -is [timespan]) { return $Value.TotalSeconds }
    $invariant = [System.Globalization.CultureInfo]::InvariantCulture
    if ($Value -is [int] -or $Value -is [long] -or $Value -is [double] -or $Value -is [decimal] -or $Value -is [single]) {
        return [double]$Value
    }
    $number = 0.0
    if ($Value -is [string] -and [double]::TryParse($Value, [System.Globalization.NumberStyles]::Float, $invariant, [ref]$number)) {
        return $number
    }
    $span = [timespan]::Zero
    if ($Value -is [string] -and [timespan]::TryParse($Value, $invariant, [ref]$span)) {
        return $span.TotalSeconds
    }
    $Cmdlet.ThrowTerminatingError((New-MigErrorRecord -Code InvalidArgument -TargetObject $ParameterName `
                -Message "The value of -$ParameterName is not valid: give seconds (such as 30) or a TimeSpan (such as (New-TimeSpan -Seconds 30) or '00:00:30')."))
}

function ConvertTo-MigRate {
    <#
    .SYNOPSIS
    A transfer rate in bytes per second: a whole number (1KB is 1024), or a size text passed on
    as given ('1 KB'); $null stays $null (revert to the default).
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)][AllowNull()][object]$Value,
        [Parameter(Mandatory)][string]$ParameterName,
        [Parameter(Mandatory)][System.Management.Automation.PSCmdlet]$Cmdlet
    )
    if ($null -eq $Value) { return $null }
    if ($Value -is [string]) { return $Value.Trim() }
    if (($Value -is [int] -or $Value -is [long]) -and $Value -ge 0) { return [long]$Value }
    if (($Value -is [double] -or $Value -is [decimal]) -and $Value -ge 0 -and [math]::Floor($Value) -eq $Value) { return [long]$Value }
    $Cmdlet.ThrowTerminatingError((New-MigErrorRecord -Code InvalidArgument -TargetObject $ParameterName `
                -Message "The value of -$ParameterName is not valid: give bytes per second as a whole number (such as 1KB) or a size text (such as '1 KB'); 0 turns the rate limit off."))
}

function Assert-MigSupportedParameter {
    <#
    .SYNOPSIS
    Refuses parameters Exchange has only for other migration types: a terminating ErrorRecord
    'UnsupportedParameter,<Cmdlet>' naming the parameter. A parameter that asks for nothing
    ($null, an empty string or list, a switch set to $false: what configuration-management code
    passes for settings it leaves alone) is not refused (docs/compatibility.md §2.5).
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)][System.Management.Automation.PSCmdlet]$Cmdlet,
        [Parameter(Mandatory)][string[]]$Unsupported
    )
    $bound = $Cmdlet.MyInvocation.BoundParameters
    foreach ($name in $Unsupported) {
        if (-not $bound.ContainsKey($name)) { continue }
        $value = $bound[$name]
        $empty = $null -eq $value -or ($value -is [string] -and $value -eq '') -or
            ($value -is [System.Management.Automation.SwitchParameter] -and -not $value.IsPresent) -or
            ($value -is [System.Collections.ICollection] -and $value.Count -eq 0)
        if (-not $empty) {
            $Cmdlet.ThrowTerminatingError((New-MigErrorRecord -Code UnsupportedParameter -TargetObject $name `
                        -Message "The parameter -$name is not supported for IMAP migrations."))
        }
    }
}

function Get-MigAbsolutePath {
    <#
    .SYNOPSIS
    A PowerShell path (relative to $PWD, ~, PSDrives) as the absolute file-system path the library needs:
    the process working directory is not PowerShell's current location.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [Parameter(Mandatory)][string]$Path,
        [Parameter(Mandatory)][System.Management.Automation.PSCmdlet]$Cmdlet
    )
    $Cmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath($Path)
}

function Get-MigShouldProcessTarget {
    <#
    .SYNOPSIS
    Text naming an identity in confirmation prompts.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param([AllowNull()][AllowEmptyString()][string]$Identity, [string]$Default = 'the current migration batch')
    if ($Identity) { $Identity } else { $Default }
}

