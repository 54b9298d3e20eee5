# dragd installer for Windows: finds a Python 3.10 or newer and runs install\install.py, which does the work.
# Options go through unchanged, e.g.:
#   powershell -ExecutionPolicy Bypass -File install\install.ps1
#   powershell -ExecutionPolicy Bypass -File install\install.ps1 --torch cpu
#   powershell -ExecutionPolicy Bypass -File install\install.ps1 --uninstall
# $env:DRAGD_PYTHON names the Python to use, if the one found is not the right one.
$ErrorActionPreference = "Stop"
$installer = Join-Path $PSScriptRoot "install.py"
$check = "import sys, venv; sys.exit(0 if sys.version_info >= (3, 10) else 1)"

# Each candidate: the program and the arguments that select the Python (the py launcher takes -3).
$candidates = @()
if ($env:DRAGD_PYTHON) { $candidates += ,@($env:DRAGD_PYTHON) }
$candidates += ,@("py", "-3")
$candidates += ,@("python3")
$candidates += ,@("python")

foreach ($candidate in $candidates) {
    $program = $candidate[0]
    $prefix = @($candidate | Select-Object -Skip 1)
    if (-not (Get-Command $program -ErrorAction SilentlyContinue)) { continue }
    & $program @prefix -c $check 2>$null | Out-Null
    if ($LASTEXITCODE -eq 0) {
        & $program @prefix $installer @args
        exit $LASTEXITCODE
    }
}
Write-Error ("dragd needs Python 3.10 or newer, and none was found. Install it from https://www.python.org/downloads/ " +
             "(tick 'Add python.exe to PATH'), or name one: `$env:DRAGD_PYTHON = 'C:\path\to\python.exe'")
exit 1
