function Get-MigrationEndpoint {
    <#
    .SYNOPSIS
    Gets migration endpoints.
    .DESCRIPTION
    Get-MigrationEndpoint returns the stored endpoints: one by -Identity, all of one -Type, or all
    of them. A $null Identity returns all endpoints. Credentials are never returned; HasCredentials
    tells whether a target endpoint has them.
    .PARAMETER Identity
    Name or GUID of the endpoint, or an object that has an Identity.
    .PARAMETER Type
    Returns the endpoints of one migration type: ExchangeOutlookAnywhere, ExchangeRemoteMove, IMAP or PublicFolder.
    .PARAMETER DiagnosticInfo
    Exchange support diagnostics; accepted and ignored.
    .PARAMETER Partition
    Reserved for internal Microsoft use in Exchange; accepted and ignored.
    .EXAMPLE
    Get-MigrationEndpoint IMAPEndpoint | Format-List EndpointType,RemoteServer,Port,Security,Max*

    Shows the connection settings of one endpoint.
    .EXAMPLE
    $MRSEndpoints = (Get-MigrationEndpoint).Identity; foreach ($MEP in $MRSEndpoints) { Test-MigrationServerAvailability -Endpoint $MEP }

    Tests every endpoint.
    .OUTPUTS
    ImapMigration.MigrationEndpoint
    #>
    [CmdletBinding(DefaultParameterSetName = 'Identity', PositionalBinding = $false)]
    [OutputType('ImapMigration.MigrationEndpoint')]
    param(
        [Parameter(Position = 0, ValueFromPipeline, ValueFromPipelineByPropertyName, ParameterSetName = 'Identity')]
        [AllowNull()]
        [object]$Identity,

        [Parameter(Mandatory, ParameterSetName = 'TypeFilter')]
        [ValidateSet('ExchangeOutlookAnywhere', 'ExchangeRemoteMove', 'IMAP', 'PublicFolder')]
        [string]$Type,

        [ImapMigration.NotGivenWhenNull('DiagnosticInfo')][string]$DiagnosticInfo,
        [object]$Partition
    )

    begin { [ImapMigration.Invocation]::Initialize($PSCmdlet, $ExecutionContext.SessionState, @()) }

    process {
        $arguments = @{}
        $id = ConvertTo-MigIdentityString $Identity
        if ($id) { $arguments['identity'] = $id }
        if ($PSBoundParameters.ContainsKey('Type')) { $arguments['type'] = $Type }
        $result = Invoke-MigNative -Operation 'endpoint.get' -Arguments $arguments -Cmdlet $PSCmdlet -TargetObject $id -NonTerminating
        # An identity that names no endpoint is NotFound from the engine, never every endpoint.
        foreach ($item in @($result)) {
            if ($null -ne $item) { ConvertTo-MigrationEndpointObject $item }
        }
    }
}
