#Requires -Version 7.4
# Admin scripts in the styles found in the wild (tests/fixtures/admin-scripts), each run unchanged
# through the real module, library and worker against a throwaway Dovecot (one server, one worker
# for the file); each test asserts what the script's author relied on: the branch taken, the
# rows exported, the batch started, the objects removed.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'TestStack.ps1')
    $script:SkipReason = Get-MigTestStackSkipReason
    $script:Skip = [bool]$SkipReason
}

Describe 'Admin script prerequisites' {
    It 'has the native library, the worker and the testkit' {
        if ($SkipReason -and $env:IMAPMIGRATION_REQUIRE_INTEGRATION -eq '1') { throw "integration prerequisites missing: $SkipReason" }
        if ($SkipReason) { Set-ItResult -Skipped -Because $SkipReason }
    } -TestCases @{ SkipReason = $SkipReason }
}

Describe 'Admin scripts run unchanged' -Skip:$Skip {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'TestStack.ps1')
        $script:Passwords = [ordered]@{
            amy = 'amy-admin-pw'; ben = 'ben-admin-pw'; cara = 'cara-admin-pw'; dan = 'dan-admin-pw'
            eve = 'eve-admin-pw'; fay = 'fay-admin-pw'; hal = 'hal-admin-pw'
        }
        $script:Stack = Start-MigTestStack -Users $Passwords -Name adminscripts
        $script:Scripts = Join-Path $PSScriptRoot 'fixtures/admin-scripts'
        $script:Out = Join-Path $Stack.Work 'out'
        $null = New-Item -ItemType Directory -Path $Out
        $script:Port = $Stack.Server.imapsPort
        # The store keeps times to the second: a batch that synced within this second would
        # read as earlier than a sub-second StartedAt, so the MX switch is the second before.
        $now = (Get-Date).ToUniversalTime()
        $script:StartedAt = $now.AddTicks(-($now.Ticks % [TimeSpan]::TicksPerSecond)).AddSeconds(-1)

        function Write-UserCsv([string]$Path, [string[]]$Users, [hashtable]$Override = @{}) {
            $rows = foreach ($u in $Users) {
                $pw = if ($Override.ContainsKey($u)) { $Override[$u] } else { $Passwords[$u] }
                "$u@contoso.test,$u,$pw"
            }
            Set-Content -Path $Path -Value (@('EmailAddress,UserName,Password') + $rows) -Encoding utf8NoBOM
        }
        # A port on which nothing listens: bound, read, released.
        function Get-ClosedPort {
            $l = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
            $l.Start(); $p = $l.LocalEndpoint.Port; $l.Stop(); $p
        }
    }

    AfterAll {
        Stop-MigTestStack $Stack
    }

    It 'New-ImapMigrationWaves: the connectivity gate skips the dead server, creates endpoint and batch for the live one, and a rerun changes nothing' {
        $list = Join-Path $Out 'servers.csv'
        $closed = Get-ClosedPort
        Set-Content -Path $list -Encoding utf8NoBOM -Value @(
            'Name,Server,Port,Security'
            "Dovecot1,127.0.0.1,$Port,Ssl"
            "OldMail,127.0.0.1,$closed,Ssl"
        )
        $csvDir = Join-Path $Out 'users'
        $null = New-Item -ItemType Directory -Path $csvDir
        Write-UserCsv (Join-Path $csvDir 'Dovecot1.csv') 'amy', 'ben'
        Write-UserCsv (Join-Path $csvDir 'OldMail.csv') 'cara'
        $log = Join-Path $Out 'waves.log'

        & (Join-Path $Scripts 'New-ImapMigrationWaves.ps1') -ServerList $list -UserCsvFolder $csvDir -LogFile $log

        $lines = @(Get-Content $log)
        $lines | Should -Contain "ENDPOINT Dovecot1 127.0.0.1:$Port"
        @($lines | Where-Object { $_ -like 'SKIPPED OldMail: *' }).Count | Should -Be 1
        @($lines | Where-Object { $_ -match '^BATCH Dovecot1-Wave1 (Starting|Syncing|Synced) 2 users$' }).Count | Should -Be 1
        Get-MigrationEndpoint -Identity OldMail -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        (Get-MigrationBatch -Identity Dovecot1-Wave1).TotalCount | Should -Be 2

        # The author relied on the existence tests to make a rerun harmless.
        & (Join-Path $Scripts 'New-ImapMigrationWaves.ps1') -ServerList $list -UserCsvFolder $csvDir -LogFile $log
        $again = @(Get-Content $log | Select-Object -Skip $lines.Count)
        $again | Should -Contain 'EXISTS Dovecot1-Wave1'
        @($again | Where-Object { $_ -like 'ENDPOINT *' -or $_ -like 'BATCH *' }).Count | Should -Be 0
        @(Get-MigrationEndpoint).Count | Should -Be 1
    }

    It 'Test-MigrationEndpoints: ''Success'' -eq $test marks the live endpoint healthy' {
        $results = @(& (Join-Path $Scripts 'Test-MigrationEndpoints.ps1'))
        $table = $results[0]
        $rows = @($results | Select-Object -Skip 1)
        $rows.Count | Should -Be 1
        "$($rows[0].Endpoint)" | Should -Be 'Dovecot1'
        $rows[0].Healthy | Should -BeTrue
        $table | Should -Match '(?m)^Dovecot1\s+Success\s+True\s*$'
    }

    It 'Watch-MigrationBatches: the loop ends when the batches are done and exports exactly the failed users' {
        $csv = Join-Path $Out 'monitor-users.csv'
        # gina has no account on the source yet: she fails to sign in, cara migrates.
        Set-Content -Path $csv -Encoding utf8NoBOM -Value @('EmailAddress,UserName,Password', 'cara@contoso.test,cara,cara-admin-pw', 'gina@contoso.test,gina,gina-admin-pw')
        $null = New-MigrationBatch -Name Monitor -SourceEndpoint Dovecot1 -CSVData ([System.IO.File]::ReadAllBytes($csv)) -AutoStart -ErrorAction Stop
        $failedCsv = Join-Path $Out 'failed.csv'

        $summary = & (Join-Path $Scripts 'Watch-MigrationBatches.ps1') -BatchName Dovecot1-Wave1, Monitor -FailedUsersCsv $failedCsv

        (Get-MigrationBatch Dovecot1-Wave1).Status -eq 'Synced' | Should -BeTrue
        (Get-MigrationBatch Monitor).Status -eq 'SyncedWithErrors' | Should -BeTrue
        $rows = @(Import-Csv $failedCsv)
        $rows.Count | Should -Be 1
        $rows[0].Identity | Should -Be 'gina@contoso.test'
        $rows[0].BatchId | Should -Be 'Monitor'
        $rows[0].Status | Should -Be 'Failed'
        $rows[0].ErrorSummary | Should -Not -BeNullOrEmpty
        $summary | Should -Match '(?m)^Dovecot1-Wave1\s+Synced\s+2\s+2\s+0\s*$'
        $summary | Should -Match '(?m)^Monitor\s+SyncedWithErrors\s+2\s+1\s+1\s*$'
        $summary | Should -Not -Match '@\{'
    }

    It 'Restart-FailedUsers: -BatchId with -Status Failed piped to Start-MigrationUser retries gina once her account exists' {
        $null = & $Stack.Testkit add-user --dir $Stack.DovecotDir --user gina --password gina-admin-pw
        $null = & $Stack.Testkit seed --dir $Stack.DovecotDir --user gina --profile small

        $out = @(& (Join-Path $Scripts 'Restart-FailedUsers.ps1') -BatchName Monitor)

        $out[0] | Should -Be 'Retrying 1 user(s): gina@contoso.test'
        $out | Should -Contain 'gina@contoso.test is now Synced'
        (Get-MigrationUserStatistics gina@contoso.test).SyncedItemCount | Should -BeGreaterThan 0
    }

    It 'Export-SkippedItems: one CSV row per skipped item, with the user, the message and its size' {
        Add-MigSourceMessage -Stack $Stack -User dan -Subject 'Scanned contract (300 KB)' -From 'legal@fabrikam.test' -Size 300000
        $csv = Join-Path $Out 'skipped-users.csv'
        Write-UserCsv $csv 'dan'
        $null = New-MigrationBatch -Name Skipped -SourceEndpoint Dovecot1 -CSVData ([System.IO.File]::ReadAllBytes($csv)) -MaxMessageSize '200 KB' -ErrorAction Stop
        Start-MigrationBatch -Identity Skipped -ErrorAction Stop
        $null = Wait-MigBatch -Identity Skipped
        $report = Join-Path $Out 'skipped.csv'
        $raw = Join-Path $Out 'skipped-raw.csv'

        $said = & (Join-Path $Scripts 'Export-SkippedItems.ps1') -BatchName Skipped -ReportCsv $report -RawCsv $raw

        $said | Should -Be '1 skipped item(s) in Skipped'
        $rows = @(Import-Csv $report)
        $rows.Count | Should -Be 1
        $rows[0].User | Should -Be 'dan@contoso.test'
        $rows[0].Kind | Should -Be 'LargeItem'
        $rows[0].Folder | Should -Be 'INBOX'
        $rows[0].Subject | Should -Be 'Scanned contract (300 KB)'
        $rows[0].Sender | Should -Match 'legal@fabrikam\.test'
        [double]$rows[0].SizeKB | Should -BeGreaterThan 290
        [datetime]$rows[0].Received | Should -BeOfType [datetime]
        $rows[0].Reason | Should -Not -BeNullOrEmpty
        $rawRows = @(Import-Csv $raw)
        $rawRows.Count | Should -Be 1
        @($rawRows[0].PSObject.Properties.Name) | Should -Be @('Kind', 'FolderName', 'Subject', 'Sender', 'Recipient', 'DateSent', 'DateReceived', 'MessageSize', 'Failure')
        [long]$rawRows[0].MessageSize | Should -BeGreaterThan 300000
        (Get-Content $raw -Raw) | Should -Not -Match '@\{|System\.'
    }

    It 'Set-MigrationBatchResource: settings splatted with $null and '''' create, update and remove the batch' {
        $csv = Join-Path $Out 'dsc.csv'
        Write-UserCsv $csv 'eve'
        $settings = @{
            Identity             = 'Dsc'
            SourceEndpoint       = 'Dovecot1'
            CSVData              = [System.IO.File]::ReadAllBytes($csv)
            NotificationEmails   = @('ops@contoso.test')
            StartAfter           = $null
            CompleteAfter        = $null
            TimeZone             = $null
            TargetDeliveryDomain = $null
            BadItemLimit         = $null
            LargeItemLimit       = $null
            SkipReports          = $null
            AutoStart            = $false
            Ensure               = 'Present'
        }
        $created = & (Join-Path $Scripts 'Set-MigrationBatchResource.ps1') -Settings $settings
        $created | Should -Match '^Created Dsc \('
        $b = Get-MigrationBatch Dsc
        $b.NotificationEmails | Should -Be @('ops@contoso.test')
        $b.StartAfter | Should -BeNullOrEmpty
        $b.TimeZone | Should -Be 'UTC'

        $settings.NotificationEmails = @('ops@contoso.test', 'pm@contoso.test')
        & (Join-Path $Scripts 'Set-MigrationBatchResource.ps1') -Settings $settings | Should -Be 'Updated Dsc'
        (Get-MigrationBatch Dsc).NotificationEmails | Should -Be @('ops@contoso.test', 'pm@contoso.test')
        "$((Get-MigrationBatch Dsc).BadItemLimit)" | Should -Be 'Unlimited'

        $settings.Ensure = 'Absent'
        & (Join-Path $Scripts 'Set-MigrationBatchResource.ps1') -Settings $settings | Should -Be 'Removed Dsc'
        $deadline = (Get-Date).AddSeconds(30)
        while ((Get-MigrationBatch Dsc -ErrorAction SilentlyContinue) -and (Get-Date) -lt $deadline) { Start-Sleep -Milliseconds 500 }
        Get-MigrationBatch Dsc -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It 'Start-ImapBatch: the documented flow polls to Synced and prints Status and the statistics table' {
        $csv = Join-Path $Out 'wave2.csv'
        Write-UserCsv $csv 'fay', 'hal'

        $text = (& (Join-Path $Scripts 'Start-ImapBatch.ps1') -Name Wave2 -Endpoint Dovecot1 -CsvPath $csv) -join "`n"

        $text | Should -Match '(?m)^Status\s*:\s*Synced\s*$'
        $text | Should -Match '(?m)^Identity\s+Batch\s+Status\s+Items Synced\s+Items Skipped\s*$'
        $text | Should -Match '(?m)^fay@contoso\.test\s+Wave2\s+Synced\s+\d+\s+0\s*$'
        $text | Should -Match '(?m)^hal@contoso\.test\s+Wave2\s+Synced\s+\d+\s+0\s*$'
    }

    It 'Get-MigrationBatchReport: under $ErrorActionPreference = ''Stop'' a missing batch lands in catch, an existing one does not' {
        $out = @(& (Join-Path $Scripts 'Get-MigrationBatchReport.ps1') -Name Dovecot1-Wave1, Wave3)

        $out | Should -Be @('FOUND Dovecot1-Wave1 Synced 2/2 synced', 'MISSING Wave3 (ObjectNotFound)')
    }

    It 'Export-MigrationJson: the dashboard reads statuses, identities and sizes as strings' {
        $path = Join-Path $Out 'state.json'

        & (Join-Path $Scripts 'Export-MigrationJson.ps1') -Path $path

        $state = Get-Content $path -Raw | ConvertFrom-Json
        $state.Summary.TotalCount | Should -BeGreaterOrEqual 6
        $wave = $state.Batches | Where-Object Identity -eq 'Dovecot1-Wave1'
        $wave.Status | Should -Be 'Synced'
        $wave.State | Should -Be 'Active'
        $wave.SourceEndpoint.Identity | Should -Be 'Dovecot1'
        $amy = $state.Users | Where-Object Identity -eq 'amy@contoso.test'
        $amy.Status | Should -Be 'Synced'
        $amy.StatusSummary | Should -Be 'Synced'
        $amy.BatchId | Should -Be 'Dovecot1-Wave1'
        $amy.BytesTransferred | Should -Match '^\d+(\.\d+)? (B|KB|MB|GB) \([\d,]+ bytes\)$'
        $amy.TransferredMB | Should -BeOfType [long]
        (Get-Content $path -Raw) | Should -Not -Match '"Rank"|"Value"'
    }

    It 'Get-MigrationStatusReport: switch on Status picks the advice, sizes add up, the file shows names' {
        $file = Join-Path $Out 'report.txt'

        $lines = @(& (Join-Path $Scripts 'Get-MigrationStatusReport.ps1') -ReportFile $file)

        ($lines | Where-Object { "$($_.Batch)" -eq 'Dovecot1-Wave1' }).Advice | Should -Be 'ready for cut-over'
        $wave = $lines | Where-Object { "$($_.Batch)" -eq 'Dovecot1-Wave1' }
        $wave.MovedKB | Should -BeGreaterThan 0
        $text = Get-Content $file -Raw
        $text | Should -Match '(?m)^Dovecot1-Wave1\s+Synced\s+2\s+ready for cut-over\s+\d+'
        $text | Should -Not -Match '@\{|Value\s+Rank'
        # Sort-Object Status follows Exchange's enum order.
        $ranks = @($lines | ForEach-Object { $_.Status.Rank })
        $ranks | Should -Be @($ranks | Sort-Object)
    }

    It 'Remove-MigrationUsersFromList: the listed user goes, a typo in the list removes nobody else' {
        $list = Join-Path $Out 'leavers.txt'
        Set-Content -Path $list -Value @('hal@contoso.test', 'fya@contoso.test', '') -Encoding utf8NoBOM
        $before = @(Get-MigrationUser).Count

        & (Join-Path $Scripts 'Remove-MigrationUsersFromList.ps1') -ListFile $list

        @(Get-MigrationUser).Count | Should -Be ($before - 1)
        Get-MigrationUser hal@contoso.test -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        (Get-MigrationUser fay@contoso.test).Identity.Id | Should -Be 'fay@contoso.test'
    }

    It 'Invoke-MigrationSession: #Requires -Modules ExchangeOnlineManagement, Connect-ExchangeOnline and Get-ConnectionInformation work with module/compat on PSModulePath' {
        $pwsh = (Get-Command pwsh -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1).Source
        if (-not $pwsh) { $pwsh = Join-Path $PSHOME 'pwsh' }
        $compat = Join-Path $Stack.RepoRoot 'module/compat'
        $script = Join-Path $Scripts 'Invoke-MigrationSession.ps1'
        $saved = $env:PSModulePath
        try {
            $env:PSModulePath = $compat + [System.IO.Path]::PathSeparator + $saved
            $out = @(& $pwsh -NoProfile -NonInteractive -File $script 2>&1 | ForEach-Object { "$_" })
            $LASTEXITCODE | Should -Be 0 -Because ($out -join "`n")
        }
        finally { $env:PSModulePath = $saved }
        $out | Should -Contain 'CONNECTED ExchangeOnline_1 admin@contoso.test Connected'
        $out | Should -Contain 'BATCH Dovecot1-Wave1 Synced 2'
        $out[-1] | Should -Be 'DISCONNECTED'

        # Without that folder on the path the shim is never found under Microsoft's name.
        if (-not (Get-Module -ListAvailable ExchangeOnlineManagement)) {
            $plain = @(& $pwsh -NoProfile -NonInteractive -File $script 2>&1 | ForEach-Object { "$_" })
            $LASTEXITCODE | Should -Not -Be 0
            ($plain -join "`n") | Should -Match 'ExchangeOnlineManagement'
            $plain | Should -Not -Contain 'DISCONNECTED'
        }
    }

    It 'Complete-MigrationCleanup: synced batches are removed after the MX switch, the others are reported' {
        $pending = New-MigTestCsv -Rows ([ordered]@{ ben2 = 'x' })
        $null = New-MigrationBatch -Name Pending -SourceEndpoint Dovecot1 -CSVData $pending -ErrorAction Stop
        $before = @(Get-MigrationBatch)
        $synced = @($before | Where-Object Status -eq Synced | ForEach-Object { "$($_.Identity)" })
        $synced | Should -Contain 'Dovecot1-Wave1'

        $out = @(& (Join-Path $Scripts 'Complete-MigrationCleanup.ps1') -MxSwitchedAt $StartedAt)

        foreach ($name in $synced) { $out | Should -Contain "REMOVED $name" }
        # A batch never started: whatever its status is called, the script waits for it.
        $out | Should -Contain "WAIT Pending $((Get-MigrationBatch Pending).Status)"
        foreach ($name in $synced) {
            $left = Get-MigrationBatch $name -ErrorAction SilentlyContinue
            if ($left) { $left.Status -eq 'Removing' | Should -BeTrue -Because "$name was removed" }
        }
        (Get-MigrationBatch Pending).TotalCount | Should -Be 1
    }
}
