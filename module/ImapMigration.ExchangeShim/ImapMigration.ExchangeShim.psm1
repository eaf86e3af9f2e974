# The opt-in Exchange shim under its own name (the implementation is ExchangeShim.ps1).
. (Join-Path $PSScriptRoot 'ExchangeShim.ps1')
Export-ModuleMember -Function $script:ShimFunctions
