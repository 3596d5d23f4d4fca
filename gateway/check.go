package gateway

import (
	"context"

	"github.com/gofiber/fiber/v2"
)

// Check is one readiness dependency ("database", "redis").
type Check struct {
	Name  string
	Check func(ctx context.Context) error
}

// Endpoints mounts Gatehouse's own endpoints under auth_prefix.
type Endpoints interface {
	Mount(r fiber.Router)
}
