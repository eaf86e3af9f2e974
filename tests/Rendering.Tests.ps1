#Requires -Version 7.4
# How every output object prints wherever a script meets it (docs/compatibility.md §7): as a
# string, in string comparisons, in Format-List and Format-Table (default and *), through
# Select-Object, Export-Csv, ConvertTo-Json and Out-String; and the parameter and Get- rules
# scripts lean on (§2.2, §2.5, §13.2). The objects come from the real library and worker migrating
# from a throwaway Dovecot (one server, one worker for the file), as in tests/Integration.Tests.ps1.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'TestStack.ps1')
    $script:SkipReason = Get-MigTestStackSkipReason
    $script:Skip = [bool]$SkipReason
    # Each output type: where it comes from (a name in $Objects), what it prints as, which
    # property comes first, the default table header.
    $script:ObjectCases = @(
        @{ Type = 'MigrationBatch'; First = 'Identity'; Header = '^Identity\s+Status\s+Type\s+TotalCount\s*$' }
        @{ Type = 'MigrationBatch -IncludeReport'; First = 'Identity'; Header = '^Identity\s+Status\s+Type\s+TotalCount\s*$' }
        @{ Type = 'MigrationUser'; First = 'Identity'; Header = '^Identity\s+Batch\s+Status\s+LastSyncTime\s*$' }
        @{ Type = 'MigrationUserStatistics'; First = 'Identity'; Header = '^Identity\s+Batch\s+Status\s+Items Synced\s+Items Skipped\s*$' }
        @{ Type = 'MigrationEndpoint'; First = 'Identity'; Header = '^Identity\s+EndpointType\s+RemoteServer\s+Port\s+Security\s*$' }
        @{ Type = 'MigrationStatistics'; First = 'Identity'; Header = '^TotalCount\s+ActiveCount\s+StoppedCount\s+SyncedCount\s+FailedCount\s+PendingCount\s*$' }
        @{ Type = 'MigrationConfig'; First = 'Identity'; Header = '^Identity\s+MaxNumberOfBatches\s+MaxConcurrentMigrations\s+Features\s+CanSubmitNewBatch\s*$' }
        @{ Type = 'TestMigrationServerAvailabilityResult'; First = 'Result'; Header = '^Result\s+Message\s*$' }
        @{ Type = 'MigrationReportSet'; First = 'CreationTimeUTC'; Header = '^CreationTimeUTC\s+SuccessUrl\s+ErrorUrl\s*$' }
        @{ Type = 'MigrationReportEntry'; First = 'CreationTime'; Header = '^CreationTime\s+Level\s+Message\s*$' }
        @{ Type = 'MigrationBatchError'; First = 'RowIndex'; Header = '^RowIndex\s+EmailAddress\s+Message\s*$' }
        @{ Type = 'MigrationSkippedItem'; First = 'Kind'; Header = '^Kind\s+FolderName\s+Subject\s+DateReceived\s+MessageSize\s*$' }
    )
}

Describe 'Rendering prerequisites' {
    It 'has the native library, the worker and the testkit' {
        if ($SkipReason -and $env:IMAPMIGRATION_REQUIRE_INTEGRATION -eq '1') { throw "integration prerequisites missing: $SkipReason" }
        if ($SkipReason) { Set-ItResult -Skipped -Because $SkipReason }
    } -TestCases @{ SkipReason = $SkipReason }
}

Describe 'Byte quantities print and compare as Exchange''s ByteQuantifiedSize' {
    BeforeAll {
        Get-Module ImapMigration | Remove-Module -Force
        Import-Module (Join-Path (Split-Path $PSScriptRoot -Parent) 'ImapMigration.psd1') -Force
    }

    It '<Bytes> bytes print as "<Text>"' -ForEach @(
        @{ Bytes = 0; Text = '0 B (0 bytes)' }
        @{ Bytes = 1023; Text = '1023 B (1,023 bytes)' }
        @{ Bytes = 1024; Text = '1 KB (1,024 bytes)' }
        @{ Bytes = 114205; Text = '111.5 KB (114,205 bytes)' }
        @{ Bytes = 1269760; Text = '1.211 MB (1,269,760 bytes)' }
        @{ Bytes = 10558466; Text = '10.07 MB (10,558,466 bytes)' }
        @{ Bytes = 1503707494; Text = '1.4 GB (1,503,707,494 bytes)' }
        @{ Bytes = 2668722884; Text = '2.485 GB (2,668,722,884 bytes)' }
        @{ Bytes = 52613349376; Text = '49 GB (52,613,349,376 bytes)' }
    ) {
        $size = [ImapMigration.ByteQuantifiedSize]::new([uint64]$Bytes)
        $size.ToString() | Should -Be $Text
        "$size" | Should -Be $Text
        ('{0}' -f $size) | Should -Be $Text
        ([pscustomobject]@{ Size = $size } | ConvertTo-Json -Compress) | Should -Be (@{ Size = $Text } | ConvertTo-Json -Compress)
        ([pscustomobject]@{ Size = $size } | ConvertTo-Csv)[1] | Should -Be "`"$Text`""
        ($size | Out-String).Trim() | Should -Be $Text
    }

    It 'converts with ToBytes, ToKB, ToMB, ToGB (whole units, rounded down)' {
        $size = [ImapMigration.ByteQuantifiedSize]::new([uint64]2668722884)
        $size.ToBytes() | Should -Be 2668722884
        $size.ToKB() | Should -Be 2606174
        $size.ToMB() | Should -Be 2545
        $size.ToGB() | Should -Be 2
        $size.ToTB() | Should -Be 0
    }

    It 'compares with sizes and with plain numbers of bytes, and sorts by size' {
        $small = [ImapMigration.ByteQuantifiedSize]::new([uint64]5000)
        $big = [ImapMigration.ByteQuantifiedSize]::new([uint64]1269760)
        $big -gt 1MB | Should -BeTrue
        $big -lt 2MB | Should -BeTrue
        $small -lt $big | Should -BeTrue
        $big -eq 1269760 | Should -BeTrue
        $big -eq [ImapMigration.ByteQuantifiedSize]::new([uint64]1269760) | Should -BeTrue
        $big -gt '1 MB' | Should -BeTrue
        (@($big, $small) | Sort-Object | ForEach-Object ToBytes) | Should -Be @(5000, 1269760)
        ($big.ToMB() -ge 1) | Should -BeTrue
    }

    It 'parses the printed form and unit strings' {
        [ImapMigration.ByteQuantifiedSize]::Parse('1.4 GB (1,503,707,494 bytes)').ToBytes() | Should -Be 1503707494
        [ImapMigration.ByteQuantifiedSize]::Parse('10 MB').ToBytes() | Should -Be 10485760
        ([ImapMigration.ByteQuantifiedSize]'512').ToBytes() | Should -Be 512
    }
}

Describe 'Output objects render as Exchange''s (real engine)' -Skip:$Skip {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'TestStack.ps1')
        $script:Stack = Start-MigTestStack -Users ([ordered]@{ erin = 'erin-render-pw'; frank = 'frank-render-pw' }) -Name rendering
        $port = $Stack.Server.imapsPort
        Add-MigSourceMessage -Stack $Stack -User erin -Subject 'Quarterly figures (large)' -Size 150000

        $script:Test = Test-MigrationServerAvailability -IMAP -RemoteServer 127.0.0.1 -Port $port -Security Ssl -AcceptUntrustedCertificates
        $null = New-MigrationEndpoint -IMAP -Name RenderSource -RemoteServer 127.0.0.1 -Port $port -Security Ssl -AcceptUntrustedCertificates -ErrorAction Stop
        # Two good rows and one that only warns (validation warning), as admins' CSVs often have.
        $csv = [System.Text.Encoding]::UTF8.GetBytes((@(
                    'EmailAddress,UserName,Password'
                    'erin@contoso.test,erin,erin-render-pw'
                    'frank@contoso.test,frank,frank-render-pw'
                    'not-an-address,ghost,ghost-pw'
                ) -join "`r`n") + "`r`n")
        $null = New-MigrationBatch -Name Render -SourceEndpoint RenderSource -CSVData $csv -NotificationEmails 'admin@contoso.test' -WarningAction SilentlyContinue -ErrorAction Stop
        # The cap as a script sets it on a batch that exists: messages over it become LargeItems.
        Set-MigrationBatch -Identity Render -MaxMessageSize 100000 -ErrorAction Stop
        Start-MigrationBatch -Identity Render -ErrorAction Stop
        $script:Batch = Wait-MigBatch -Identity Render
        # The worker writes the report files right after the pass.
        $deadline = (Get-Date).AddSeconds(30)
        while (-not (Get-MigrationBatch Render).Reports.Count -and (Get-Date) -lt $deadline) { Start-Sleep -Milliseconds 500 }
        $script:Batch = Get-MigrationBatch -Identity Render
        $script:BatchWithReport = Get-MigrationBatch -Identity Render -IncludeReport
        $script:Users = @(Get-MigrationUser -BatchId Render)
        $script:Stats = Get-MigrationUserStatistics -Identity erin@contoso.test -IncludeSkippedItems -IncludeReport
        $script:Objects = @{
            'MigrationBatch'                        = $Batch
            'MigrationBatch -IncludeReport'         = $BatchWithReport
            'MigrationUser'                         = $Users[0]
            'MigrationUserStatistics'               = $Stats
            'MigrationEndpoint'                     = Get-MigrationEndpoint -Identity RenderSource
            'MigrationStatistics'                   = Get-MigrationStatistics
            'MigrationConfig'                       = Get-MigrationConfig
            'TestMigrationServerAvailabilityResult' = $Test
            'MigrationReportSet'                    = $Batch.Reports[0]
            'MigrationReportEntry'                  = $BatchWithReport.Report[0]
            'MigrationBatchError'                   = $Batch.ValidationWarnings[0]
            'MigrationSkippedItem'                  = $Stats.SkippedItems[0]
        }
        # What each object prints as: its identity, or for a test result its Result.
        $script:Texts = @{
            'MigrationBatch'                        = 'Render'
            'MigrationBatch -IncludeReport'         = 'Render'
            'MigrationUser'                         = 'erin@contoso.test'
            'MigrationUserStatistics'               = 'erin@contoso.test'
            'MigrationEndpoint'                     = 'RenderSource'
            'MigrationStatistics'                   = 'MigrationStatistics'
            'MigrationConfig'                       = 'MigrationConfig'
            'TestMigrationServerAvailabilityResult' = 'Success'
        }

        # Text that must never appear where Exchange prints a value: a hashtable-like dump of a
        # nested object, a bare array's type name, a status shown as its members.
        function Assert-NoObjectDump([string]$Text, [string]$Because) {
            $Text | Should -Not -Match '@\{' -Because $Because
            $Text | Should -Not -MatchExactly 'System\.Object\[\]|System\.Collections|System\.Management\.Automation|ImapMigration\.[A-Z]' -Because $Because
            $Text | Should -Not -MatchExactly '\bRank\b' -Because $Because
            $Text | Should -Not -Match '%20|%28' -Because "$Because (no URI escaping)"
        }
        # Property names of a Format-List rendering, in order.
        function Get-ListNames([string]$Text) {
            @([regex]::Matches($Text, '(?m)^(\S[^:\r\n]*?)\s*:') | ForEach-Object { $_.Groups[1].Value.Trim() })
        }
    }

    AfterAll {
        Stop-MigTestStack $Stack
    }

    It 'migrated the batch (the objects below are real)' {
        $Batch.Status -eq 'Synced' | Should -BeTrue -Because "the batch ended $($Batch.Status): $($Batch.Message)"
        $Users.Count | Should -Be 2
        $Batch.ValidationWarningCount | Should -Be 1
        $Batch.Reports.Count | Should -BeGreaterThan 0
        $BatchWithReport.Report.Count | Should -BeGreaterThan 0
        "$($Batch.MaxMessageSize)" | Should -Be '100000'
        $Stats.SkippedItems.Count | Should -Be 1
    }

    Context '<Type>' -ForEach $ObjectCases {
        BeforeAll {
            $script:o = $Objects[$Type]
            $script:names = @($o.PSObject.Properties.Name)
        }

        It 'is typed ImapMigration.<Type>' {
            $o | Should -Not -BeNullOrEmpty
            $o.PSObject.TypeNames[0] | Should -Be ('ImapMigration.' + ($Type -replace ' .*$', ''))
        }

        It 'prints as its text in strings and string comparisons' {
            $text = $Texts[$Type]
            if (-not $text) { $text = $o.ToString() }
            "$o" | Should -Be $text
            $o.ToString() | Should -Be $text
            [string]$o | Should -Be $text
            ($text -eq $o) | Should -BeTrue
            ($text -ne $o) | Should -BeFalse
            Assert-NoObjectDump -Text "$o" -Because 'the string form'
        }

        It 'Format-List shows <First> first, every property in the object''s order, nested values as text' {
            $text = $o | Format-List | Out-String -Width 4096
            $listed = Get-ListNames $text
            $listed[0] | Should -Be $First
            $listed | Should -Be $names
            Assert-NoObjectDump -Text $text -Because 'Format-List'
            $star = $o | Format-List * | Out-String -Width 4096
            (Get-ListNames $star) | Should -Be $names
            Assert-NoObjectDump -Text $star -Because 'Format-List *'
        }

        It 'Format-Table shows the default columns; Format-Table * starts with <First>' {
            $lines = @(($o | Format-Table | Out-String -Width 4096) -split "`r?`n" | Where-Object { $_.Trim() })
            $lines[0] | Should -Match $Header
            Assert-NoObjectDump -Text ($lines -join "`n") -Because 'Format-Table'
            $star = @(($o | Format-Table * | Out-String -Width 8192) -split "`r?`n" | Where-Object { $_.Trim() })
            ($star[0] -split '\s+')[0] | Should -Be $First
            Assert-NoObjectDump -Text ($star -join "`n") -Because 'Format-Table *'
            Assert-NoObjectDump -Text ($o | Out-String -Width 4096) -Because 'Out-String'
        }

        It 'Select-Object * keeps the order; every value prints as text' {
            $row = $o | Select-Object *
            @($row.PSObject.Properties.Name) | Should -Be $names
            Assert-NoObjectDump -Text ($row | Format-List | Out-String -Width 4096) -Because 'Select-Object *'
        }

        It 'Export-Csv has <First> first and a text cell for every property' {
            $csv = @($o | ConvertTo-Csv -NoTypeInformation)
            $header = $csv[0] | ConvertFrom-Csv -Header (1..$names.Count) -Delimiter ','
            $header.'1' | Should -Be $First
            $row = $csv | ConvertFrom-Csv
            @($row.PSObject.Properties.Name) | Should -Be $names
            Assert-NoObjectDump -Text ($csv -join "`n") -Because 'Export-Csv'
            foreach ($p in $o.PSObject.Properties) {
                if ($p.Value -is [ImapMigration.TextValue]) { $row.($p.Name) | Should -Be $p.Value.ToString() -Because "the $($p.Name) cell" }
            }
        }

        It 'ConvertTo-Json writes statuses, identities and sizes as strings, nested objects as objects' {
            $json = $o | ConvertTo-Json -Depth 6
            Assert-NoObjectDump -Text $json -Because 'ConvertTo-Json'
            $back = $json | ConvertFrom-Json
            @($back.PSObject.Properties.Name) | Should -Be $names
            foreach ($p in $o.PSObject.Properties) {
                if ($p.Value -is [ImapMigration.TextValue]) { $back.($p.Name) | Should -Be $p.Value.ToString() -Because "the JSON $($p.Name)" }
            }
        }
    }

    Context 'values that print as one piece of text' {
        It 'a status on its own prints as its name and still has .Value' {
            ($Batch.Status | Out-String).Trim() | Should -Be 'Synced'
            ($Users[0].Status | Out-String).Trim() | Should -Be 'Synced'
            ($Users[0].StatusSummary | Out-String).Trim() | Should -Be 'Synced'
            $Batch.Status.Value | Should -Be 'Synced'
            $Batch.Status | Should -BeOfType [ImapMigration.MigrationBatchStatus]
            ($Batch | Select-Object -ExpandProperty Status | Out-String).Trim() | Should -Be 'Synced'
            ([pscustomobject]@{ S = $Batch.Status } | ConvertTo-Json -Compress) | Should -Be '{"S":"Synced"}'
        }

        It 'an identity on its own prints as the name or address' {
            ($Batch.Identity | Out-String).Trim() | Should -Be 'Render'
            ($Users[0].Identity | Out-String).Trim() | Should -Be 'erin@contoso.test'
            ($Users[0].BatchId | Out-String).Trim() | Should -Be 'Render'
            $Batch.Identity.Name | Should -Be 'Render'
            $Batch.Identity.JobId | Should -Be ([guid]$Batch.BatchGuid)
        }

        It 'nested objects print as Exchange prints them: endpoint by name, report set as its links, lists of texts' {
            $text = $Batch | Format-List | Out-String -Width 4096
            $text | Should -Match '(?m)^SourceEndpoint\s*:\s*RenderSource\s*$'
            $text | Should -Match '(?m)^NotificationEmails\s*:\s*\{admin@contoso\.test\}\s*$'
            $text | Should -Match '(?m)^Reports\s*:\s*\{When migration report was created:.+MigrationStatistics\.csv'
            $text | Should -Match '(?m)^ValidationWarnings\s*:\s*\{Row \d+ \(not-an-address\): '
            ($Batch | Select-Object Identity, SourceEndpoint, Reports | ConvertTo-Csv)[1] | Should -Match '^"Render","RenderSource","When migration report was created:'
            $Batch.SourceEndpoint.Identity.Id | Should -Be 'RenderSource'
        }

        It '-IncludeReport lines print as: time [level] message' {
            foreach ($line in $BatchWithReport.Report) {
                $line.ToString() | Should -Match '^\S.* \[(Info|Warning|Error)\] \S'
                $line.CreationTime | Should -BeOfType [datetime]
            }
            ($BatchWithReport | Format-List Report | Out-String -Width 4096) | Should -Match '(?m)^Report\s*:\s*\{.+\[(Info|Warning|Error)\]'
            ($Stats.Report | Measure-Object).Count | Should -BeGreaterThan 0
        }

        It 'user statistics carry byte quantities and DiagnosticInfo text' {
            $Stats.BytesTransferred | Should -BeOfType [ImapMigration.ByteQuantifiedSize]
            $Stats.BytesTransferred.ToBytes() | Should -BeGreaterThan 0
            "$($Stats.BytesTransferred)" | Should -Match '^\d+(\.\d+)? (B|KB|MB|GB) \([\d,]+ bytes\)$'
            $Stats.BytesTransferred -gt 1KB | Should -BeTrue
            $Stats.EstimatedTotalTransferSize | Should -BeOfType [ImapMigration.ByteQuantifiedSize]
            ($Stats | Format-List BytesTransferred | Out-String) | Should -Match 'BytesTransferred : \d+(\.\d+)? (KB|MB) \([\d,]+ bytes\)'
            $Stats.DiagnosticInfo | Should -BeOfType [string]
            $Stats.DiagnosticInfo | Should -Match '(?m)^Status: Synced$'
            $Stats.DiagnosticInfo | Should -Match '(?m)^LastError: none$'
            # The worker's recent lines, each pass naming the sessions it used; no retry here.
            $Stats.DiagnosticInfo | Should -Match '(?m)^RecentRetries: 0$'
            $Stats.DiagnosticInfo | Should -Match '(?m)^RecentEvents:$'
            $Stats.DiagnosticInfo | Should -Match '(?m)^  \S+ Info erin@contoso\.test: pass 1 finished: .*; [1-9]\d* source and 0 target sessions$'
            $Stats.PSObject.Properties['Diagnostics'] | Should -BeNullOrEmpty
            $Batch.DiagnosticInfo | Should -Match '(?m)^Users: 2 total'
        }

        It 'skipped items carry Exchange''s properties' {
            $item = $Stats.SkippedItems[0]
            @($item.PSObject.Properties.Name)[0..9] | Should -Be @('Kind', 'FolderName', 'Subject', 'Sender', 'Recipient', 'DateSent', 'DateReceived', 'MessageSize', 'Failure', 'ScoringClassifications')
            $item.Kind | Should -Be 'LargeItem'
            $item.Subject | Should -Be 'Quarterly figures (large)'
            $item.Sender | Should -Match 'reports@fabrikam\.test'
            # Recipient: the To and Cc addresses, a list as Exchange's.
            , $item.Recipient | Should -BeOfType [ImapMigration.MultiValuedProperty]
            @($item.Recipient) | Should -Be @('erin@contoso.test')
            , $item.ScoringClassifications | Should -BeOfType [ImapMigration.MultiValuedProperty]
            $item.FolderName | Should -Be 'INBOX'
            $item.MessageSize | Should -BeGreaterThan 100000
            $item.DateReceived | Should -BeOfType [datetime]
            $item.Failure | Should -Not -BeNullOrEmpty
            ($Stats | Format-List SkippedItems | Out-String -Width 4096) | Should -Match '(?m)^SkippedItems\s*:\s*\{LargeItem: Quarterly figures \(large\) \(INBOX\)\}'
        }

        It 'a test result compares as its Result: ''Success'' -ne $r is false' {
            ('Success' -ne $Test) | Should -BeFalse
            ('Failed' -eq $Test) | Should -BeFalse
            ($Test | Format-List | Out-String) | Should -Match "(?m)^ConnectionSettings\s*:\s*127\.0\.0\.1:$($Stack.Server.imapsPort) \(Ssl\)\s*$"
        }
    }

    Context '$null means "not given"' {
        It 'New-MigrationBatch splatted with $null for other-migration-type and IMAP parameters, "" for dates' {
            $params = @{
                Name                     = 'NullSplat'
                SourceEndpoint           = 'RenderSource'
                CSVData                  = New-MigTestCsv -Rows ([ordered]@{ frank = 'frank-render-pw' })
                TargetDeliveryDomain     = $null
                ArchiveDomain            = $null
                SkipCalendar             = $null
                MoveOptions              = $null
                TargetDatabases          = $null
                WorkflowControlFlags     = $null
                StartAfter               = ''
                CompleteAfter            = $null
                TimeZone                 = $null
                NotificationEmails       = $null
                ReportInterval           = $null
                AllowUnknownColumnsInCsv = $null
                BadItemLimit             = $null
                LargeItemLimit           = $null
                ContentFilter            = $null
                AutoStart                = $null
            }
            # frank is already in Render: the row only warns, and the batch is created anyway.
            $b = New-MigrationBatch @params -WarningAction SilentlyContinue -ErrorAction Stop
            $b.Identity.Name | Should -Be 'NullSplat'
            $b.StartAfter | Should -BeNullOrEmpty
            $b.CompleteAfter | Should -BeNullOrEmpty
            $b.TimeZone | Should -Be 'UTC'
            "$($b.BadItemLimit)" | Should -Be 'Unlimited'
            Remove-MigrationBatch -Identity NullSplat -Confirm:$false -ErrorAction Stop
        }

        It 'Set-MigrationBatch with $null changes nothing it names' {
            Set-MigrationBatch -Identity Render -NotificationEmails $null -StartAfter '' -CompleteAfter $null -SkipReports $null -ReportInterval $null -MoveOptions $null -ErrorAction Stop
            (Get-MigrationBatch Render).NotificationEmails | Should -Be @('admin@contoso.test')
        }

        It 'Test-MigrationServerAvailability and Set-MigrationEndpoint with $null keep the defaults' {
            $r = Test-MigrationServerAvailability -IMAP -RemoteServer 127.0.0.1 -Port $Stack.Server.imapsPort -Security $null -Authentication $null -Credentials $null -AcceptUntrustedCertificates
            "$r" | Should -Be 'Success'
            Set-MigrationEndpoint -Identity RenderSource -Port $null -Security $null -MaxConcurrentMigrations $null -AcceptUntrustedCertificates $null -ExchangeServer $null -SkipVerification -ErrorAction Stop
            $ep = Get-MigrationEndpoint RenderSource
            $ep.Port | Should -Be $Stack.Server.imapsPort
            $ep.Security | Should -Be 'Ssl'
            $ep.AcceptUntrustedCertificates | Should -BeTrue
        }
    }

    Context 'Get- cmdlets: filters and identities' {
        It 'Get-MigrationUser -Status <_> is accepted and returns only users in it' -ForEach @(
            'Queued', 'Syncing', 'Failed', 'Synced', 'IncrementalFailed', 'Completing', 'Completed', 'CompletionFailed',
            'Corrupted', 'Provisioning', 'ProvisionUpdating', 'CompletionSynced', 'Validating', 'IncrementalSyncing',
            'IncrementalSynced', 'CompletedWithWarnings', 'Stopped', 'IncrementalStopped', 'Starting', 'Stopping', 'Removing') {
            $found = @(Get-MigrationUser -Status $_ -ErrorVariable errs)
            $errs.Count | Should -Be 0
            foreach ($u in $found) { $u.Status -eq $_ | Should -BeTrue }
            if ($_ -eq 'Synced') { $found.Count | Should -Be 2 }
        }

        It 'Get-MigrationBatch -Status takes every batch status, any case' {
            @(Get-MigrationBatch -Status synced).Identity.Name | Should -Contain 'Render'
            foreach ($s in [ImapMigration.MigrationBatchStatus]::All) {
                $found = @(Get-MigrationBatch -Status $s -ErrorVariable errs)
                $errs.Count | Should -Be 0 -Because "-Status $s"
                foreach ($b in $found) { $b.Status -eq $s | Should -BeTrue }
            }
        }

        It 'an unknown status is InvalidArgument' {
            { Get-MigrationUser -Status Bogus -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidArgument,Get-MigrationUser'
            { Get-MigrationBatch -Status Bogus -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidArgument,Get-MigrationBatch'
        }

        It '<Command> -<Parameter> that names nothing is NotFound (ObjectNotFound) and returns nothing' -ForEach @(
            @{ Command = 'Get-MigrationBatch'; Parameter = 'Identity'; Value = 'no-such-batch' }
            @{ Command = 'Get-MigrationEndpoint'; Parameter = 'Identity'; Value = 'no-such-endpoint' }
            @{ Command = 'Get-MigrationUser'; Parameter = 'Identity'; Value = 'nobody@contoso.test' }
            @{ Command = 'Get-MigrationUser'; Parameter = 'MailboxGuid'; Value = [guid]::NewGuid() }
            @{ Command = 'Get-MigrationUser'; Parameter = 'EmailAddress'; Value = 'nobody@contoso.test' }
            @{ Command = 'Get-MigrationUserStatistics'; Parameter = 'Identity'; Value = 'nobody@contoso.test' }
        ) {
            $params = @{ $Parameter = $Value }
            $out = & $Command @params -ErrorVariable errs -ErrorAction SilentlyContinue
            $out | Should -BeNullOrEmpty
            $errs.Count | Should -Be 1
            $errs[0].FullyQualifiedErrorId | Should -Be "NotFound,$Command"
            $errs[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
            $errs[0].Exception.Message | Should -Match "couldn't be found"
            { & $Command @params -ErrorAction Stop } | Should -Throw -ErrorId "NotFound,$Command"
        }

        It 'a typo piped into Remove-MigrationUser removes nothing' {
            Get-MigrationUser 'frnak@contoso.test' -ErrorAction SilentlyContinue | Remove-MigrationUser -Confirm:$false
            @(Get-MigrationUser -BatchId Render).Count | Should -Be 2
        }

        It 'a user is found by address in any case and by GUID' {
            (Get-MigrationUser -Identity 'ERIN@contoso.test').Identity.Id | Should -Be 'erin@contoso.test'
            $guid = $Users[0].Identity.JobItemGuid
            (Get-MigrationUser -MailboxGuid $guid).Identity.JobItemGuid | Should -Be $guid
        }
    }
}
