# What the Get- cmdlets return for an identity or a filter value (docs/compatibility.md §2.2, §13.2):
# an identity that names nothing is one NotFound error, whichever object it is, and never "every
# object"; a documented filter value the engine never produces matches nothing.

# Per kind: the noun in messages and the result properties an identity may name (name or email
# address, then GUIDs).
$script:MigIdentityKeys = @{
    'migration endpoint' = @{ Text = @('Identity.Id', 'Name'); Guid = @('Guid', 'Identity.Guid') }
    'migration user'     = @{ Text = @('Identity.Id', 'EmailAddress'); Guid = @('Guid', 'Identity.JobItemGuid') }
}

function Get-MigPropertyPath {
    [CmdletBinding()]
    param([AllowNull()][object]$Object, [Parameter(Mandatory)][string]$Path)
    $value = $Object
    foreach ($part in $Path.Split('.')) {
        if ($null -eq $value) { return $null }
        $prop = $value.PSObject.Properties[$part]
        $value = if ($prop) { $prop.Value } else { $null }
    }
    $value
}

function Test-MigIdentityMatch {
    <#
    .SYNOPSIS
    Whether a native result is the object an identity names: its name (email address for users)
    ignoring case, or its GUID in any GUID spelling.
    #>
    [CmdletBinding()]
    [OutputType([bool])]
    param([Parameter(Mandatory)][string]$Identity, [AllowNull()][object]$Item, [Parameter(Mandatory)][string]$Kind)
    $keys = $script:MigIdentityKeys[$Kind]
    $wanted = $Identity.Trim()
    foreach ($path in $keys.Text) {
        $value = Get-MigPropertyPath -Object $Item -Path $path
        if ($null -ne $value -and [string]::Equals("$value".Trim(), $wanted, [System.StringComparison]::OrdinalIgnoreCase)) { return $true }
    }
    $guid = [guid]::Empty
    if ([guid]::TryParse($wanted, [ref]$guid)) {
        foreach ($path in $keys.Guid) {
            $other = [guid]::Empty
            $value = Get-MigPropertyPath -Object $Item -Path $path
            if ($null -ne $value -and [guid]::TryParse("$value", [ref]$other) -and $other -eq $guid) { return $true }
        }
    }
    $false
}

function New-MigNotFoundRecord {
    [CmdletBinding()]
    [OutputType([System.Management.Automation.ErrorRecord])]
    param([Parameter(Mandatory)][string]$Kind, [Parameter(Mandatory)][string]$Identity, [string]$Parameter = 'identity')
    # The engine's own wording (native/core/src/api/mod.rs, ApiError::not_found), so every Get-
    # cmdlet reports a missing object the same way.
    New-MigErrorRecord -Code NotFound -Message "the $Kind `"$Identity`" couldn't be found" -TargetObject $Identity `
        -Details ([pscustomobject]@{ identity = $Identity; parameter = $Parameter })
}

function Select-MigIdentityMatch {
    <#
    .SYNOPSIS
    The native results an identity names; when none is left, writes NotFound through the cmdlet.
    .DESCRIPTION
    The engine answers a batch identity it cannot find with NotFound, but an endpoint or user
    identity with every endpoint or user; the cmdlets must do the former, so that
    `Get-MigrationUser typo | Remove-MigrationUser` removes nothing.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)][System.Management.Automation.PSCmdlet]$Cmdlet,
        [Parameter(Mandatory)][string]$Identity,
        [Parameter(Mandatory)][ValidateSet('migration endpoint', 'migration user')][string]$Kind,
        [AllowNull()][object]$Result,
        [string]$Parameter = 'identity'
    )
    $matched = @(foreach ($item in @($Result)) { if ($null -ne $item -and (Test-MigIdentityMatch -Identity $Identity -Item $item -Kind $Kind)) { $item } })
    if ($matched.Count -eq 0) { $Cmdlet.WriteError((New-MigNotFoundRecord -Kind $Kind -Identity $Identity -Parameter $Parameter)) }
    $matched
}

function Invoke-MigNativeQuery {
    <#
    .SYNOPSIS
    Invoke-MigNative -NonTerminating for a Get- cmdlet's query, where a refused value of
    -FilterParameter (a documented Exchange value the engine never produces, such as the user
    status Provisioning) matches nothing instead of failing.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)][System.Management.Automation.PSCmdlet]$Cmdlet,
        [Parameter(Mandatory)][string]$Operation,
        [hashtable]$Arguments = @{},
        [object]$TargetObject,
        [Parameter(Mandatory)][string]$FilterParameter
    )
    $result = Invoke-MigNative -Operation $Operation -Arguments $Arguments -Cmdlet $Cmdlet -TargetObject $TargetObject -ReturnError
    if ($result -isnot [ImapMigration.MigrationException]) { return , $result }
    $detailParameter = if ($result.Details) { "$($result.Details.parameter)" } else { '' }
    if ($result.Code -eq 'InvalidArgument' -and $detailParameter -eq $FilterParameter) {
        Write-Verbose "The engine never produces the -$FilterParameter value given; nothing matches."
        return
    }
    $Cmdlet.WriteError((New-MigErrorRecord -Code $result.Code -Message $result.Message -TargetObject $TargetObject -Details $result.Details))
}
