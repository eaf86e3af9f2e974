#Requires -Version 7.4
# Written the way admins test their Exchange Online scripts (docs/compatibility.md section 12.3):
# the function under test calls the migration cmdlets, the tests mock those cmdlets with plain
# hashtables and assert with Should -Invoke. It must work unchanged against this module.

BeforeAll {
    Get-Module ImapMigration | Remove-Module -Force
    Import-Module (Join-Path (Split-Path $PSScriptRoot -Parent) 'ImapMigration.psd1') -Force

    # The code under test: Microsoft365DSC's delete logic for a migration batch, as admins copy it.
    function Remove-AdminMigrationBatch {
        param([Parameter(Mandatory)][string]$Identity)
        $batch = Get-MigrationBatch -Identity $Identity -ErrorAction SilentlyContinue
        if ($null -eq $batch) { return 'absent' }
        if ($batch.Status.Value -in @('Completed', 'CompletedWithErrors', 'Stopped', 'Failed', 'SyncedWithErrors')) {
            Remove-MigrationBatch -Identity $Identity -Confirm:$false
            return 'removed'
        }
        if ($batch.Status.Value -in @('InProgress', 'Syncing', 'Queued', 'Completing')) {
            Stop-MigrationBatch -Identity $Identity -Confirm:$false
            Remove-MigrationBatch -Identity $Identity -Confirm:$false
            return 'stopped and removed'
        }
        'left alone'
    }

    # An admin's provisioning function: create the endpoint and the batch from a user list.
    function New-AdminImapBatch {
        param([string]$Name, [string[]]$Users, [string]$Endpoint)
        if (-not (Get-MigrationEndpoint -Identity $Endpoint -ErrorAction SilentlyContinue)) {
            New-MigrationEndpoint -IMAP -Name $Endpoint -RemoteServer imap.contoso.com -Port 993 -Security Ssl | Out-Null
        }
        $csv = @('"EmailAddress","UserName","Password"') + ($Users | ForEach-Object { "`"$_`",`"$($_.Split('@')[0])`",`"pw`"" })
        $bytes = [System.Text.Encoding]::UTF8.GetBytes($csv -join "`r`n")
        $b = New-MigrationBatch -Name $Name -SourceEndpoint $Endpoint -CSVData $bytes -AutoStart
        $b.Identity.Name
    }

    # A report: the users to look at, by status, with the string idioms of admin scripts.
    function Get-AdminFailedUsers {
        param([string]$BatchId)
        Get-MigrationUser -BatchId $BatchId | Where-Object { $_.Status -in @('Failed', 'IncrementalFailed') } | ForEach-Object { $_.Identity }
    }
}

Describe 'Remove-AdminMigrationBatch with mocked Exchange cmdlets' {
    BeforeEach {
        Mock -CommandName Stop-MigrationBatch -MockWith { }
        Mock -CommandName Remove-MigrationBatch -MockWith { }
    }

    It 'stops then removes a syncing batch' {
        Mock -CommandName Get-MigrationBatch -MockWith { @{ Identity = 'Arpita'; Status = @{ Value = 'Syncing' } } }
        Remove-AdminMigrationBatch -Identity 'Arpita' | Should -Be 'stopped and removed'
        Should -Invoke -CommandName Stop-MigrationBatch -Exactly 1 -ParameterFilter { $Identity -eq 'Arpita' -and $Confirm -eq $false }
        Should -Invoke -CommandName Remove-MigrationBatch -Exactly 1 -ParameterFilter { $Identity -eq 'Arpita' }
    }

    It 'removes a completed batch without stopping it' {
        Mock -CommandName Get-MigrationBatch -MockWith {
            @{
                Identity           = 'Arpita'
                Status             = @{ Value = 'Completed' }
                SourceEndpoint     = @{ Identity = @{ Id = 'gmailCalendar' } }
                NotificationEmails = @('admin@contoso.com')
                CompleteAfter      = [datetime]'2026-01-01'
                BadItemLimit       = 'Unlimited'
            }
        }
        Remove-AdminMigrationBatch -Identity 'Arpita' | Should -Be 'removed'
        Should -Invoke -CommandName Stop-MigrationBatch -Exactly 0
        Should -Invoke -CommandName Remove-MigrationBatch -Exactly 1 -ParameterFilter { $Identity -eq 'Arpita' }
    }

    It 'does nothing when the batch does not exist' {
        Mock -CommandName Get-MigrationBatch -MockWith { }
        Remove-AdminMigrationBatch -Identity 'Nope' | Should -Be 'absent'
        Should -Invoke -CommandName Remove-MigrationBatch -Exactly 0
    }

    It 'filters mocks on -Identity' {
        Mock -CommandName Get-MigrationBatch -MockWith { @{ Identity = 'A'; Status = @{ Value = 'Stopped' } } } -ParameterFilter { $Identity -eq 'A' }
        Mock -CommandName Get-MigrationBatch -MockWith { @{ Identity = 'B'; Status = @{ Value = 'Syncing' } } } -ParameterFilter { $Identity -eq 'B' }
        Remove-AdminMigrationBatch -Identity 'A' | Should -Be 'removed'
        Remove-AdminMigrationBatch -Identity 'B' | Should -Be 'stopped and removed'
        Should -Invoke -CommandName Stop-MigrationBatch -Exactly 1 -ParameterFilter { $Identity -eq 'B' }
        Should -Invoke -CommandName Remove-MigrationBatch -Exactly 2
    }

    It 'works with the real objects the module returns (Status wrapper, identity objects)' {
        Mock -CommandName Get-MigrationBatch -MockWith {
            [pscustomobject]@{
                PSTypeName = 'ImapMigration.MigrationBatch'
                Identity   = [ImapMigration.MigrationBatchId]::new('Real')
                Status     = [ImapMigration.MigrationBatchStatus]::new('SyncedWithErrors')
            }
        }
        Remove-AdminMigrationBatch -Identity 'Real' | Should -Be 'removed'
        Should -Invoke -CommandName Remove-MigrationBatch -Exactly 1 -ParameterFilter { $Identity -eq 'Real' }
    }
}

Describe 'New-AdminImapBatch with mocked Exchange cmdlets' {
    It 'creates the endpoint when missing and the batch from a quoted CRLF CSV' {
        Mock -CommandName Get-MigrationEndpoint -MockWith { }
        Mock -CommandName New-MigrationEndpoint -MockWith {
            @{ EndpointType = 'IMAP'; RemoteServer = 'imap.contoso.com'; Port = 993; Security = 'Ssl'; Authentication = 'Basic'; MaxConcurrentMigrations = '20'; MaxConcurrentIncrementalSyncs = '10'; AcceptUntrustedCertificates = $true; MailboxPermission = 'Admin' }
        }
        Mock -CommandName New-MigrationBatch -MockWith { @{ Identity = @{ Name = 'Wave1'; Id = 'Wave1' }; Status = @{ Value = 'Created' } } }

        New-AdminImapBatch -Name Wave1 -Users 'a@contoso.com', 'b@contoso.com' -Endpoint IMAPEndpoint | Should -Be 'Wave1'

        Should -Invoke -CommandName New-MigrationEndpoint -Exactly 1 -ParameterFilter { $IMAP -and $Name -eq 'IMAPEndpoint' -and $Port -eq 993 }
        Should -Invoke -CommandName New-MigrationBatch -Exactly 1 -ParameterFilter {
            $text = [System.Text.Encoding]::UTF8.GetString($CSVData)
            $Name -eq 'Wave1' -and $SourceEndpoint -eq 'IMAPEndpoint' -and $AutoStart -and
            $text.StartsWith('"EmailAddress"') -and $text.Contains("`r`n")
        }
    }

    It 'reuses an existing endpoint' {
        Mock -CommandName Get-MigrationEndpoint -MockWith { @{ Identity = @{ Id = 'IMAPEndpoint' }; EndpointType = 'IMAP' } }
        Mock -CommandName New-MigrationEndpoint -MockWith { }
        Mock -CommandName New-MigrationBatch -MockWith { @{ Identity = @{ Name = 'Wave2' } } }
        $null = New-AdminImapBatch -Name Wave2 -Users 'a@contoso.com' -Endpoint IMAPEndpoint
        Should -Invoke -CommandName New-MigrationEndpoint -Exactly 0
        Should -Invoke -CommandName New-MigrationBatch -Exactly 1
    }
}

Describe 'Get-AdminFailedUsers with mocked Exchange cmdlets' {
    It 'selects failed users by plain string status, with -BatchId bound by name' {
        Mock -CommandName Get-MigrationUser -MockWith {
            @(@{ Identity = 'a@x'; Status = 'Synced' }, @{ Identity = 'b@x'; Status = 'Failed' }, @{ Identity = 'c@x'; Status = 'IncrementalFailed' }) | ForEach-Object { [pscustomobject]$_ }
        } -ParameterFilter { $BatchId -eq 'IMAPImport' }
        Get-AdminFailedUsers -BatchId IMAPImport | Should -Be @('b@x', 'c@x')
        Should -Invoke -CommandName Get-MigrationUser -Exactly 1 -ParameterFilter { $BatchId -eq 'IMAPImport' }
    }
}

Describe 'Mocking keeps the Exchange parameter names' {
    It 'Pester can build mocks with the parameters admins filter on: <Command> -<Parameter>' -ForEach @(
        @{ Command = 'New-MigrationBatch'; Parameter = 'CSVData' }
        @{ Command = 'New-MigrationBatch'; Parameter = 'SourceEndpoint' }
        @{ Command = 'New-MigrationBatch'; Parameter = 'AutoStart' }
        @{ Command = 'Get-MigrationBatch'; Parameter = 'Identity' }
        @{ Command = 'Get-MigrationUser'; Parameter = 'BatchId' }
        @{ Command = 'Stop-MigrationBatch'; Parameter = 'Identity' }
        @{ Command = 'Set-MigrationEndpoint'; Parameter = 'MaxConcurrentMigrations' }
        @{ Command = 'Set-MigrationEndpoint'; Parameter = 'AcceptUntrustedCertificates' }
    ) {
        (Get-Command $Command).Parameters.Keys | Should -Contain $Parameter
    }
}
