#!/usr/bin/env bash
# Refreshes the screenshots of docs/pages.md (make screenshots): runs the
# browser tests that take them with GATEHOUSE_SCREENSHOTS in a new
# temporary folder, then copies the chosen ones into docs/screenshots/ as
# <page>-1280.png and <page>-390.png (the light scheme), plus
# sign-in-dark-1280.png and sign-in-dark-390.png. To show another page,
# add a line to SHOTS: the name in docs/screenshots, the test, and the
# name the test gives Inspect.
set -euo pipefail
cd "$(dirname "$0")/.."

# name  test  inspect-name
SHOTS="
sign-in                 TestBrowserSignInWithRD                    sign-in
sign-in-branded         TestBrowserMoreBrandingAndFrench           sign-in-branded
sign-in-code            TestBrowserMoreCodeAndSignOutPages         sign-in-code
sign-up                 TestBrowserSignUpPage                      sign-up
sign-up-invite          TestBrowserMoreInviteSignUp                sign-up-invite
verify-email            TestBrowserSignUpVerifyLandsOnRD           verify-email
forgot-password         TestBrowserForgotAndResetPassword          forgot-password
reset-password          TestBrowserForgotAndResetPassword          reset-password
mfa                     TestBrowserMFASignIn                       mfa
onboarding              TestBrowserMoreOnboardingKeepsRD           onboarding
workspaces              TestBrowserMoreInviteSignUp                workspaces
account                 TestBrowserTOTPEnableSignOutSignInWith2FA  account
account-recovery-codes  TestBrowserTOTPEnableSignOutSignInWith2FA  account-recovery-codes
sign-out                TestBrowserMoreCodeAndSignOutPages         sign-out
"

bash scripts/browser.sh
export GATEHOUSE_REQUIRE_SERVERS=1 # no browser fails, never skips
dir=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-screenshots.XXXXXX")
trap 'rm -rf "$dir"' EXIT

tests=$(echo "$SHOTS" | awk 'NF {print $2}' | sort -u | paste -sd '|')
GATEHOUSE_SCREENSHOTS="$dir" go test -count=1 -run "^($tests)\$" ./cmd/gatehouse/app/

out=docs/screenshots
mkdir -p "$out"
rm -f "$out"/*.png
echo "$SHOTS" | while read -r name test shot; do
  [ -n "$name" ] || continue
  for w in 1280 390; do
    cp "$dir/$test/$shot-$w-light.png" "$out/$name-$w.png"
  done
done
for w in 1280 390; do
  cp "$dir/TestBrowserSignInWithRD/sign-in-$w-dark.png" "$out/sign-in-dark-$w.png"
done
echo "screenshots: $(ls "$out"/*.png | wc -l) files in $out"
