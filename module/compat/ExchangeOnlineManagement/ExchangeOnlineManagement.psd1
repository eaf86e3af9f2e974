# The opt-in Exchange shim under the name scripts import: `#Requires -Modules
# ExchangeOnlineManagement` and `Import-Module ExchangeOnlineManagement` load it once an admin puts
# <repo>/module/compat on PSModulePath on purpose; without that folder on the path nothing here is
# found, and Microsoft's module, where installed, is untouched. It loads the same file as
# module/ImapMigration.ExchangeShim (ExchangeShim.ps1): one implementation, two names.
# ModuleVersion 3.0.0 names the Exchange Online V3 connection cmdlets it stands in for, so a
# `#Requires -Modules @{ ModuleName = 'ExchangeOnlineManagement'; ModuleVersion = '3.0.0' }` line
# passes; an installed ExchangeOnlineManagement of a higher version is the one Import-Module picks.
@{
    RootModule           = 'ExchangeOnlineManagement.psm1'
    ModuleVersion        = '3.0.0'
    GUID                 = 'eb0400ec-c784-4a2c-8cf8-322e60f96f43'
    Author               = 'ImapMigration contributors'
    CompanyName          = 'ImapMigration'
    Copyright            = '(c) ImapMigration contributors. All rights reserved.'
    Description          = 'ImapMigration stand-in for ExchangeOnlineManagement: Connect-ExchangeOnline, Disconnect-ExchangeOnline and Get-ConnectionInformation select an ImapMigration state profile instead of a tenant; the migration cmdlets come from the ImapMigration module. Not Microsoft''s module.'
    PowerShellVersion    = '7.4'
    CompatiblePSEditions = @('Core')
    FunctionsToExport    = @('Connect-ExchangeOnline', 'Disconnect-ExchangeOnline', 'Get-ConnectionInformation')
    CmdletsToExport      = @()
    AliasesToExport      = @()
    VariablesToExport    = @()
}
