@{
    RootModule           = 'module/ImapMigration.psm1'
    ModuleVersion        = '0.1.0'
    GUID                 = '6f0c2b7e-3d4a-4e1b-9a57-1c2e8d4b5a90'
    Author               = 'ImapMigration contributors'
    CompanyName          = 'ImapMigration'
    Copyright            = '(c) ImapMigration contributors. All rights reserved.'
    Description          = 'Self-hosted IMAP migration engine behind the Exchange Online IMAP migration cmdlets (New-MigrationBatch, Get-MigrationBatch, ...), so existing admin scripts and Pester suites run unchanged.'
    PowerShellVersion    = '7.4'
    CompatiblePSEditions = @('Core')
    FormatsToProcess     = @('module/ImapMigration.Format.ps1xml')
    TypesToProcess       = @('module/ImapMigration.Types.ps1xml')
    FunctionsToExport    = @(
        'New-MigrationEndpoint', 'Get-MigrationEndpoint', 'Set-MigrationEndpoint', 'Remove-MigrationEndpoint',
        'Test-MigrationServerAvailability',
        'New-MigrationBatch', 'Get-MigrationBatch', 'Set-MigrationBatch', 'Start-MigrationBatch',
        'Stop-MigrationBatch', 'Complete-MigrationBatch', 'Remove-MigrationBatch',
        'Get-MigrationUser', 'Get-MigrationUserStatistics', 'Set-MigrationUser', 'Start-MigrationUser',
        'Stop-MigrationUser', 'Remove-MigrationUser',
        'Get-MigrationStatistics', 'Get-MigrationConfig', 'Set-MigrationConfig',
        'Open-MigrationConsole'
    )
    CmdletsToExport      = @()
    AliasesToExport      = @()
    VariablesToExport    = @()
    PrivateData          = @{
        PSData = @{
            Tags         = @('IMAP', 'Migration', 'Exchange', 'ExchangeOnline', 'Mail', 'Dovecot', 'Maildir', 'Linux', 'PSEdition_Core')
            ProjectUri   = 'https://github.com/ImapMigration/ImapMigration'
            LicenseUri   = 'https://github.com/ImapMigration/ImapMigration#licence'
            ReleaseNotes = @'
0.1.0: first release. Exchange Online's IMAP migration cmdlets (New-MigrationEndpoint,
New-MigrationBatch -AutoStart, Get-MigrationBatch, Get-MigrationUserStatistics...) over a
self-hosted engine: byte-identical, resumable copies into any IMAP server or a local Maildir store,
run by a background worker. Native builds for linux-x64; the opt-in Exchange connection shim is in
module/ImapMigration.ExchangeShim and module/compat. Licensed MIT OR Apache-2.0.
'@
        }
    }
}
