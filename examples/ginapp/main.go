// Command ginapp is a small Gin application that reuses Gatehouse as a
// library: Gatehouse's auth and users routes, plus the app's own
// api::post.post.* routes protected by the same Casbin model and middleware.
//
//	go run ./examples/ginapp        # http://localhost:8080
package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"log"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/follow"
	"github.com/gatehouse/gatehouse/handlers"
	"github.com/gatehouse/gatehouse/policy"
	"github.com/gatehouse/gatehouse/setup"
	"github.com/gin-gonic/gin"
)

// postPolicy is the app's own rows, added to Gatehouse's default policy.
const postPolicy = `
p, public, /api/posts, GET
p, public, /api/posts/:id, GET
p, authenticated, /api/posts, POST
p, admin, /api/posts/:id, DELETE
`

// newApp wires Gatehouse and the app's routes over the database; the app
// follows policy changes until ctx is done.
func newApp(ctx context.Context, databaseURL string, secret []byte) (*handlers.Server, error) {
	// A new database starts with Gatehouse's default policy and the app's
	// rows; migrations and that bootstrap run under the start-up lock.
	rules, err := policy.ParseCSV(policy.DefaultCSV + postPolicy)
	if err != nil {
		return nil, err
	}
	st, enforcer, err := setup.Open(ctx, databaseURL, setup.Options{Policy: rules})
	if err != nil {
		return nil, err
	}
	srv, err := handlers.New(handlers.Config{Store: st, Enforcer: enforcer, Secret: secret})
	if err != nil {
		return nil, err
	}
	posts := &posts{byID: map[int]post{}}
	srv.Route(policy.Function{Name: "api::post.post.find", Method: "GET", Route: "/api/posts"}, false, posts.find)
	srv.Route(policy.Function{Name: "api::post.post.findOne", Method: "GET", Route: "/api/posts/:id"}, false, posts.findOne)
	srv.Route(policy.Function{Name: "api::post.post.create", Method: "POST", Route: "/api/posts"}, false, posts.create)
	srv.Route(policy.Function{Name: "api::post.post.delete", Method: "DELETE", Route: "/api/posts/:id"}, false, posts.delete)
	// Changes made by another process sharing the database (another
	// instance, the CLI, SQL) apply here within 10s; follow.Options.Notices
	// set to a *cluster.Cluster applies them at once through Redis.
	if _, err := srv.FollowChanges(ctx, follow.Options{Every: 10 * time.Second}); err != nil {
		return nil, err
	}
	return srv, nil
}

func main() {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		log.Fatal(err)
	}
	srv, err := newApp(context.Background(), "sqlite://./data/ginapp.db", secret)
	if err != nil {
		log.Fatal(err)
	}
	log.Print("ginapp on http://localhost:8080")
	s := &http.Server{Addr: ":8080", Handler: srv, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(s.ListenAndServe())
}

// post is the app's own content.
type post struct {
	ID     int    `json:"id"`
	Title  string `json:"title"`
	Author string `json:"author"`
}

// posts is an in-memory post store.
type posts struct {
	mu   sync.Mutex
	next int
	byID map[int]post
}

func (p *posts) find(c *gin.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	list := make([]post, 0, len(p.byID))
	for _, v := range p.byID {
		list = append(list, v)
	}
	c.JSON(http.StatusOK, gin.H{"data": list})
	return nil
}

func (p *posts) findOne(c *gin.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var id int
	if _, err := fmt.Sscan(c.Param("id"), &id); err != nil {
		return handlers.NotFoundError("Post not found")
	}
	v, ok := p.byID[id]
	if !ok {
		return handlers.NotFoundError("Post not found")
	}
	c.JSON(http.StatusOK, gin.H{"data": v})
	return nil
}

func (p *posts) create(c *gin.Context) error {
	var body struct {
		Title string `json:"title"`
	}
	if err := c.ShouldBindJSON(&body); err != nil || strings.TrimSpace(body.Title) == "" {
		return handlers.ValidationError("title is a required field", nil)
	}
	user, _ := handlers.CurrentUser(c) // the route needs a token, so there is a user
	p.mu.Lock()
	defer p.mu.Unlock()
	p.next++
	v := post{ID: p.next, Title: body.Title, Author: user.Username}
	p.byID[v.ID] = v
	c.JSON(http.StatusCreated, gin.H{"data": v})
	return nil
}

func (p *posts) delete(c *gin.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var id int
	if _, err := fmt.Sscan(c.Param("id"), &id); err != nil {
		return handlers.NotFoundError("Post not found")
	}
	if _, ok := p.byID[id]; !ok {
		return handlers.NotFoundError("Post not found")
	}
	delete(p.byID, id)
	c.Status(http.StatusNoContent)
	return nil
}
