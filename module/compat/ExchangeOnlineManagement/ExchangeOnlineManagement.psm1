# The opt-in Exchange shim under the name scripts import (the implementation is
# module/ImapMigration.ExchangeShim/ExchangeShim.ps1, shared with ImapMigration.ExchangeShim).
. (Join-Path $PSScriptRoot '../../ImapMigration.ExchangeShim/ExchangeShim.ps1')
Export-ModuleMember -Function $script:ShimFunctions
