function ConvertTo-MigEndpointArguments {
    <#
    .SYNOPSIS
    The endpoint.new / endpoint.set arguments for the bound New-/Set-MigrationEndpoint parameters.
    Only bound parameters are sent, so Set-MigrationEndpoint changes only what the admin names.
    #>
    [CmdletBinding()]
    [OutputType([hashtable])]
    param(
        [Parameter(Mandatory)][System.Collections.IDictionary]$BoundParameters,
        [Parameter(Mandatory)][System.Management.Automation.PSCmdlet]$Cmdlet
    )
    $arguments = @{}
    $simple = [ordered]@{
        RemoteServer        = 'remoteServer'
        Port                = 'port'
        Security            = 'security'
        TargetLogin         = 'targetLogin'
        MasterUserSeparator = 'masterUserSeparator'
        OAuthTokenEndpoint  = 'oauthTokenEndpoint'
        OAuthClientId       = 'oauthClientId'
        OAuthScope          = 'oauthScope'
        TargetUserTemplate  = 'targetUserTemplate'
    }
    foreach ($name in $simple.Keys) {
        if ($BoundParameters.ContainsKey($name)) { $arguments[$simple[$name]] = $BoundParameters[$name] }
    }
    if ($BoundParameters.ContainsKey('Authentication')) {
        $method = [string]$BoundParameters['Authentication']
        $known = @('Basic', 'Ntlm', 'OAuth2')
        $match = $known | Where-Object { $_ -eq $method }
        if (-not $match) {
            $Cmdlet.ThrowTerminatingError((New-MigErrorRecord -Code InvalidArgument -TargetObject $method `
                        -Message "The authentication method '$method' is not supported for the IMAP protocol. Valid values: $($known -join ', ')."))
        }
        $arguments['authentication'] = $match
    }
    foreach ($name in 'AcceptUntrustedCertificates', 'SkipVerification', 'PreserveOrder', 'DisableCompression', 'VerifyContent') {
        if ($BoundParameters.ContainsKey($name)) {
            $arguments[$name.Substring(0, 1).ToLowerInvariant() + $name.Substring(1)] = [bool]$BoundParameters[$name]
        }
    }
    foreach ($name in 'MaxConcurrentMigrations', 'MaxConcurrentIncrementalSyncs', 'MaxConnectionsPerUser') {
        if ($BoundParameters.ContainsKey($name)) {
            $arguments[$name.Substring(0, 1).ToLowerInvariant() + $name.Substring(1)] =
                ConvertTo-MigCount -Value $BoundParameters[$name] -ParameterName $name -Cmdlet $Cmdlet
        }
    }
    if ($BoundParameters.ContainsKey('CertificateAuthorityFile')) {
        $file = $BoundParameters['CertificateAuthorityFile']
        $arguments['caFile'] = if ($file) { Get-MigAbsolutePath -Path $file -Cmdlet $Cmdlet } else { $null }
    }
    if ($BoundParameters.ContainsKey('Credentials')) {
        $credential = $BoundParameters['Credentials']
        # The password leaves the PSCredential only here, into the request for the engine to seal.
        $arguments['credentials'] = if ($credential) {
            @{ userName = $credential.UserName; password = $credential.GetNetworkCredential().Password }
        }
        else { $null }
    }
    $arguments
}
