function Invoke-MigBatchAction {
    <#
    .SYNOPSIS
    Shared body of Start-, Stop-, Complete- and Remove-MigrationBatch: confirm, then one native call.
    Without an identity the engine acts on the only batch there is, or refuses (InvalidArgument)
    when there are none or several.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)][System.Management.Automation.PSCmdlet]$Cmdlet,
        [Parameter(Mandatory)][string]$Operation,
        [Parameter(Mandatory)][string]$Action,
        [AllowNull()][object]$Identity
    )
    $id = ConvertTo-MigIdentityString $Identity
    $target = Get-MigShouldProcessTarget -Identity $id
    if (-not $Cmdlet.ShouldProcess($target, $Action)) { return }
    $arguments = @{}
    if ($id) { $arguments['identity'] = $id }
    $null = Invoke-MigNative -Operation $Operation -Arguments $arguments -Cmdlet $Cmdlet -TargetObject $id -NonTerminating
}

function Invoke-MigWorkerEnsure {
    <#
    .SYNOPSIS
    Makes sure the background worker runs after a user-level request it must act on
    (user.* operations carry no workerPath, so the worker is started explicitly).
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][System.Management.Automation.PSCmdlet]$Cmdlet)
    $null = Invoke-MigNative -Operation 'worker.ensure' -Cmdlet $Cmdlet -NonTerminating
}
