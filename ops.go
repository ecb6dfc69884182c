package main

import (
	"log/slog"
	"strings"

	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/handlers"
)

// corsConfig is the HTTP layer's CORS from the settings; it says at start-up
// which origins may call the API from a browser.
func corsConfig(cfg config.Config, log *slog.Logger) handlers.CORS {
	switch {
	case cfg.CORS.Unset && cfg.Production:
		log.Warn("cors: CORS_ORIGINS is not set: browser front ends on other origins cannot call the API; set it to their origins, e.g. CORS_ORIGINS=https://app.example.com")
	case cfg.CORS.Unset:
		log.Info("cors: allowing browser front ends on this machine (development default; set CORS_ORIGINS before going live)",
			"origins", strings.Join(cfg.CORS.Origins, ","))
	default:
		log.Info("cors: allowing browser front ends", "origins", strings.Join(cfg.CORS.Origins, ","), "credentials", cfg.CORS.Credentials)
	}
	return handlers.CORS{Origins: cfg.CORS.Origins, Credentials: cfg.CORS.Credentials}
}
