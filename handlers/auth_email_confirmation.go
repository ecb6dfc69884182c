package handlers

import (
	"net/http"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gin-gonic/gin"
)

// afterRegisterWithConfirmation answers a registration while email
// confirmation is on: {user} without a JWT.
func (s *Server) afterRegisterWithConfirmation(c *gin.Context, user store.User) error {
	return writeJSON(c, http.StatusOK, gin.H{"user": newUserView(user, false)})
}
