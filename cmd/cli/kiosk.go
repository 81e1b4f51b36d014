package cli

// DefaultKioskConfig is where a workstation keeps its kiosk settings.
const DefaultKioskConfig = "/etc/parley/kiosk.toml"
