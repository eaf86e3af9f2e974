@{
    RootModule           = 'ImapMigration.ExchangeShim.psm1'
    ModuleVersion        = '0.1.0'
    GUID                 = 'b3e1a0d4-92c6-4f7e-8d15-5a6c0e2f4b71'
    Author               = 'ImapMigration contributors'
    CompanyName          = 'ImapMigration'
    Copyright            = '(c) ImapMigration contributors. All rights reserved.'
    Description          = 'Opt-in Connect-ExchangeOnline / Disconnect-ExchangeOnline / Get-ConnectionInformation for scripts written against Exchange Online: they select an ImapMigration state profile instead of a tenant.'
    PowerShellVersion    = '7.4'
    CompatiblePSEditions = @('Core')
    FunctionsToExport    = @('Connect-ExchangeOnline', 'Disconnect-ExchangeOnline', 'Get-ConnectionInformation')
    CmdletsToExport      = @()
    AliasesToExport      = @()
    VariablesToExport    = @()
}
