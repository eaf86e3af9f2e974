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
    [CmdletBinding()]
    [OutputType([string])]
    param([AllowNull()][object]$InputObject)
    $value = $InputObject
    for ($depth = 0; $depth -lt 4 -and $null -ne $value; $depth++) {
        if ($value -is [System.Management.Automation.PSObject] -and $value.PSObject.BaseObject -isnot [System.Management.Automation.PSCustomObject]) {
            $value = $value.PSObject.BaseObject
        }
        if ($value -is [string]) { return $value }
        if ($value -is [guid] -or $value -is [System.ValueType]) { return $value.ToString() }
        if ($value -is [ImapMigration.MigrationObjectId]) { return $value.Id }
        if ($value -is [System.Collections.IDictionary]) {
            $next = $null
            foreach ($key in 'Identity', 'Id', 'Name') {
                if ($value.Contains($key)) { $next = $value[$key]; break }
            }
            if ($null -eq $next) { return [string]$value }
            $value = $next
            continue
        }
        $props = $value.PSObject.Properties
        $prop = $props['Identity']
        if (-not $prop) { $prop = $props['Id'] }
        if (-not $prop) { $prop = $props['Name'] }
        if (-not $prop) { return $value.ToString() }
        $value = $prop.Value
    }
    if ($null -eq $value) { return $null }
    [string]$value
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

function Initialize-MigInvocation {
    <#
    .SYNOPSIS
    What every public cmdlet does first: takes the caller's preference variables, and makes
    $null mean "not given" (docs/compatibility.md §2.5, §10).
    .DESCRIPTION
    A script module's functions do not see the preference variables of the script that calls
    them, so a script's `$ErrorActionPreference = 'Stop'` would not make our errors terminating,
    as it does with Exchange's cmdlets. The caller's ErrorAction, Warning, Information, Verbose,
    Debug and Progress preferences are copied into the cmdlet's scope, unless the matching
    common parameter was given.

    Then every parameter bound from $null (recorded by [ImapMigration.NotGivenWhenNull()], or
    bound as $null), and every switch bound to $false, is removed from the caller's
    $PSBoundParameters and its variable gets the declared default again. The common parameters
    are left alone, and so are the parameters in -Keep, whose $null asks to clear a setting.

    Call it first thing, in the cmdlet's scope (begin block, or the body of a function without
    blocks).
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)][System.Management.Automation.PSCmdlet]$Cmdlet,
        [string[]]$Keep = @()
    )
    $callerPreferences = [ordered]@{
        ErrorActionPreference = 'ErrorAction'
        WarningPreference     = 'WarningAction'
        InformationPreference = 'InformationAction'
        VerbosePreference     = 'Verbose'
        DebugPreference       = 'Debug'
        ProgressPreference    = $null
    }
    foreach ($name in $callerPreferences.Keys) {
        $parameter = $callerPreferences[$name]
        if ($parameter -and $Cmdlet.MyInvocation.BoundParameters.ContainsKey($parameter)) { continue }
        # $Cmdlet.SessionState is the session state the cmdlet was called from.
        $value = $Cmdlet.SessionState.PSVariable.GetValue($name)
        if ($null -ne $value) {
            try { Set-Variable -Name $name -Value $value -Scope 1 -WhatIf:$false -Confirm:$false }
            catch { Write-Debug "The caller's `$$name ($value) cannot be taken: $_" }
        }
    }

    $bound = $Cmdlet.MyInvocation.BoundParameters
    $common = [System.Management.Automation.PSCmdlet]::CommonParameters + [System.Management.Automation.PSCmdlet]::OptionalCommonParameters
    $recorded = Get-Variable -Name ([ImapMigration.NotGivenWhenNullAttribute]::VariableName) -Scope 1 -ValueOnly -ErrorAction Ignore
    $notGiven = @(
        foreach ($name in @($bound.Keys)) {
            if ($name -in $common -or $name -in $Keep) { continue }
            $value = $bound[$name]
            if (($recorded -and $recorded.Contains($name)) -or $null -eq $value -or
                ($value -is [System.Management.Automation.SwitchParameter] -and -not $value.IsPresent)) { $name }
        }
    )
    if (-not $notGiven) { return }
    $ast = $Cmdlet.MyInvocation.MyCommand.ScriptBlock.Ast
    if ($ast -is [System.Management.Automation.Language.FunctionDefinitionAst]) { $ast = $ast.Body }
    $parameters = $ast.ParamBlock.Parameters
    foreach ($name in $notGiven) {
        $null = $bound.Remove($name)
        $declared = $parameters | Where-Object { $_.Name.VariablePath.UserPath -eq $name } | Select-Object -First 1
        $default = $null
        $hasDefault = $false
        if ($declared -and $declared.DefaultValue) {
            try { $default = $declared.DefaultValue.SafeGetValue(); $hasDefault = $true } catch { $hasDefault = $false }
        }
        # A variable keeps its parameter's type and validation; without a default it becomes a
        # plain $null variable, as an unbound parameter without a default reads.
        Remove-Variable -Name $name -Scope 1 -Force -ErrorAction Ignore
        Set-Variable -Name $name -Scope 1 -WhatIf:$false -Confirm:$false -Value $(if ($hasDefault) { $default } else { $null })
    }
}
