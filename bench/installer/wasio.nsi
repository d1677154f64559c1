; Wasio's Windows installer (NSIS 3; Debian's `nsis` package builds it on Linux).
;
; Built by `cargo xtask package` (xtask/src/package.rs), which stages the files and passes:
;   -DVERSION=0.1.0          the workspace version
;   -DFILES=<path>/files.nsh generated file lists: the WASIO_FILES_* and WASIO_DELETE_FILES
;                            macros, HAVE_X86 when the package has the 32-bit driver, and
;                            WINE8_SHIM_X64/WINE8_SHIM_X86: the bcryptprimitives shims
;   -DOUTFILE=<path>.exe     the installer to write
;   -DFAST_COMPRESSION       (dev-build test packages) zlib instead of solid LZMA
;
; Per-machine install to "Program Files\Wasio" (admin). The 64-bit driver is registered with
; the 64-bit regsvr32; the 32-bit driver (x86\) with the 32-bit regsvr32 (SysWOW64), only
; when Windows has its 32-bit subsystem. Wine 8.0 has no bcryptprimitives.dll!ProcessPrng,
; which every Rust program imports: where the system's bcryptprimitives.dll does not export it
; (GetProcAddress), the shim goes into System32 (and SysWOW64); never where it does (Windows
; 10+, Wine 9+). The uninstaller unregisters both and removes exactly the files, shortcut,
; shims and keys it installed. Silent mode: `wasio-setup.exe /S`,
; `uninstall.exe /S`. The installer is a 64-bit program: Wasio needs 64-bit Windows.

Unicode true
Target amd64-unicode
!ifdef FAST_COMPRESSION
  ; Test packages of dev builds (large, with debug info): quick to build, size irrelevant.
  SetCompressor zlib
!else
  SetCompressor /SOLID lzma
!endif

!include LogicLib.nsh
!include FileFunc.nsh
!include "${FILES}"

!define PRODUCT "Wasio"
!define ASIO_KEY "SOFTWARE\ASIO\Wasio"
!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\Wasio"
!define REGSVR32_64 "$WINDIR\System32\regsvr32.exe"
!define REGSVR32_32 "$WINDIR\SysWOW64\regsvr32.exe"
!define SHORTCUT_DIR "$SMPROGRAMS\Wasio"
!define SHORTCUT "$SMPROGRAMS\Wasio\Wasio Control Panel.lnk"

Name "${PRODUCT} ${VERSION}"
OutFile "${OUTFILE}"
InstallDir "$PROGRAMFILES64\Wasio"
RequestExecutionLevel admin
ShowInstDetails show
ShowUninstDetails show

VIProductVersion "${VERSION}.0"
VIAddVersionKey "ProductName" "${PRODUCT}"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "FileDescription" "Wasio ASIO driver installer"
VIAddVersionKey "LegalCopyright" "MIT OR Apache-2.0"

Page directory
Page instfiles
UninstPage uninstConfirm
UninstPage instfiles

; Registers (or with /u unregisters) a driver DLL; $0 gets regsvr32's exit code.
!macro REGSVR32 EXE OPTIONS DLL
  ExecWait '"${EXE}" ${OPTIONS} "${DLL}"' $0
  ${If} ${Errors}
    StrCpy $0 "not started"
    ClearErrors
  ${EndIf}
!macroend

Function .onInit
  SetShellVarContext all
  SetRegView 64
FunctionEnd

!ifdef WINE8_SHIM_X64
; $0 = 1 when $SYSDIR\bcryptprimitives.dll exports ProcessPrng, 0 when it does not load or
; does not export it.
Function SystemHasProcessPrng
  StrCpy $0 0
  System::Call 'kernel32::LoadLibraryExW(w "$SYSDIR\bcryptprimitives.dll", p 0, i 0) p.r1'
  ${If} $1 P<> 0
    System::Call 'kernel32::GetProcAddress(p r1, m "ProcessPrng") p.r2'
    ${If} $2 P<> 0
      StrCpy $0 1
    ${EndIf}
    System::Call 'kernel32::FreeLibrary(p r1)'
  ${EndIf}
FunctionEnd
!endif

Section "Wasio"
  ; The uninstaller first: a failed install can always be undone.
  SetOutPath "$INSTDIR"
  WriteUninstaller "$INSTDIR\uninstall.exe"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "DisplayName" "${PRODUCT} ASIO driver"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "Publisher" "Wasio"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKLM "${UNINSTALL_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegStr HKLM "${UNINSTALL_KEY}" "DisplayIcon" "$INSTDIR\x64\wasio-panel.exe"
  WriteRegDWORD HKLM "${UNINSTALL_KEY}" "NoModify" 1
  WriteRegDWORD HKLM "${UNINSTALL_KEY}" "NoRepair" 1

  !insertmacro WASIO_FILES_COMMON
  !insertmacro WASIO_FILES_X64

!ifdef WINE8_SHIM_X64
  ; Before any registration: regsvr32 cannot load a Rust DLL without ProcessPrng.
  Call SystemHasProcessPrng
  ${If} $0 == 1
    DetailPrint "$SYSDIR\bcryptprimitives.dll exports ProcessPrng: no shim"
  ${ElseIf} ${FileExists} "$SYSDIR\bcryptprimitives.dll"
    DetailPrint "$SYSDIR\bcryptprimitives.dll has no ProcessPrng, but it is not ours to replace"
  ${Else}
    SetOutPath "$SYSDIR"
    File "/oname=bcryptprimitives.dll" "${WINE8_SHIM_X64}"
    WriteRegDWORD HKLM "${UNINSTALL_KEY}" "ProcessPrngShim" 1
    DetailPrint "No ProcessPrng (Wine 8.0): installed the shim as $SYSDIR\bcryptprimitives.dll"
    SetOutPath "$INSTDIR"
  ${EndIf}
!endif

  DetailPrint "Registering the 64-bit driver"
  !insertmacro REGSVR32 "${REGSVR32_64}" "/s" "$INSTDIR\x64\wasio_driver.dll"
  ${If} $0 != 0
    MessageBox MB_ICONSTOP "Registering the 64-bit driver failed (regsvr32: $0).$\r$\nThe files stay installed; run the uninstaller to remove them." /SD IDOK
    SetErrorLevel 3
    Abort "regsvr32 failed for x64\wasio_driver.dll ($0)"
  ${EndIf}

!ifdef HAVE_X86
  ${If} ${FileExists} "${REGSVR32_32}"
    !insertmacro WASIO_FILES_X86
!ifdef WINE8_SHIM_X86
    ; The same Wine: the 32-bit half lacks ProcessPrng when the 64-bit half did.
    ReadRegDWORD $1 HKLM "${UNINSTALL_KEY}" "ProcessPrngShim"
    ${If} $1 == 1
    ${AndIfNot} ${FileExists} "$WINDIR\SysWOW64\bcryptprimitives.dll"
      SetOutPath "$WINDIR\SysWOW64"
      File "/oname=bcryptprimitives.dll" "${WINE8_SHIM_X86}"
      WriteRegDWORD HKLM "${UNINSTALL_KEY}" "ProcessPrngShimX86" 1
      DetailPrint "Installed the 32-bit shim as $WINDIR\SysWOW64\bcryptprimitives.dll"
      SetOutPath "$INSTDIR"
    ${EndIf}
!endif
    DetailPrint "Registering the 32-bit driver"
    !insertmacro REGSVR32 "${REGSVR32_32}" "/s" "$INSTDIR\x86\wasio_driver.dll"
    ${If} $0 != 0
      ; 64-bit hosts work; 32-bit hosts will not see Wasio. Say so, do not undo the rest.
      MessageBox MB_ICONEXCLAMATION "Registering the 32-bit driver failed (regsvr32: $0).$\r$\n32-bit programs will not list Wasio; 64-bit programs will." /SD IDOK
      DetailPrint "32-bit driver not registered (regsvr32: $0)"
    ${EndIf}
  ${Else}
    DetailPrint "No 32-bit subsystem (${REGSVR32_32} is missing): the 32-bit driver is not installed"
  ${EndIf}
!endif

  CreateDirectory "${SHORTCUT_DIR}"
  CreateShortcut "${SHORTCUT}" "$INSTDIR\x64\wasio-panel.exe" "" "$INSTDIR\x64\wasio-panel.exe" 0 \
    SW_SHOWNORMAL "" "Wasio's settings and status"

  ${GetSize} "$INSTDIR" "/S=0K" $1 $2 $3
  WriteRegDWORD HKLM "${UNINSTALL_KEY}" "EstimatedSize" $1
SectionEnd

Function un.onInit
  SetShellVarContext all
  SetRegView 64
FunctionEnd

Section "Uninstall"
  ${If} ${FileExists} "$INSTDIR\x64\wasio_driver.dll"
    DetailPrint "Unregistering the 64-bit driver"
    !insertmacro REGSVR32 "${REGSVR32_64}" "/u /s" "$INSTDIR\x64\wasio_driver.dll"
    ${If} $0 != 0
      DetailPrint "regsvr32 /u failed for the 64-bit driver ($0)"
    ${EndIf}
  ${EndIf}
  ${If} ${FileExists} "$INSTDIR\x86\wasio_driver.dll"
  ${AndIf} ${FileExists} "${REGSVR32_32}"
    DetailPrint "Unregistering the 32-bit driver"
    !insertmacro REGSVR32 "${REGSVR32_32}" "/u /s" "$INSTDIR\x86\wasio_driver.dll"
    ${If} $0 != 0
      DetailPrint "regsvr32 /u failed for the 32-bit driver ($0)"
    ${EndIf}
  ${EndIf}

  ; The shims only if this installer put them there (after unregistering: regsvr32 needed them).
  ReadRegDWORD $1 HKLM "${UNINSTALL_KEY}" "ProcessPrngShim"
  ${If} $1 == 1
    Delete "$SYSDIR\bcryptprimitives.dll"
  ${EndIf}
  ReadRegDWORD $1 HKLM "${UNINSTALL_KEY}" "ProcessPrngShimX86"
  ${If} $1 == 1
    Delete "$WINDIR\SysWOW64\bcryptprimitives.dll"
  ${EndIf}

  ; Only what the installer wrote: named files, then their folders if empty.
  !insertmacro WASIO_DELETE_FILES
  Delete "${SHORTCUT}"
  RMDir "${SHORTCUT_DIR}"
  DeleteRegKey HKLM "${UNINSTALL_KEY}"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
SectionEnd
