# What the Get- cmdlets return for a filter value (docs/compatibility.md §2.2, §13.2): a documented
# filter value the engine never produces matches nothing. An identity that names nothing is one
# NotFound error from the engine itself, whichever object it is, and never "every object".

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
