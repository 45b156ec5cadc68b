package functional_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/openai/openai-go"
	"github.com/openai/openai-go/option"

	"github.com/aiuptime/aiuptime/stack"
)

func readAll(resp *http.Response) ([]byte, error) {
	return io.ReadAll(io.LimitReader(resp.Body, 8<<20))
}

func client(t target, opts ...option.RequestOption) openai.Client {
	base := []option.RequestOption{
		option.WithBaseURL(t.URL + "/v1/"),
		option.WithAPIKey(t.Key),
		option.WithMaxRetries(0),
		option.WithRequestTimeout(30 * time.Second),
	}
	return openai.NewClient(append(base, opts...)...)
}

func chatParams(prompt string, maxTokens int64) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:       env.ModelName,
		Messages:    []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt)},
		MaxTokens:   openai.Int(maxTokens),
		Temperature: openai.Float(0),
		Seed:        openai.Int(7),
	}
}

var _ = Describe("the OpenAI API", func() {
	for _, name := range []string{"gateway", "model-0", "model-1"} {
		Context("at "+name, func() {
			var t target
			BeforeEach(func() {
				for _, c := range targets() {
					if c.Name == name {
						t = c
					}
				}
				Expect(t.URL).NotTo(BeEmpty(), "no target %s", name)
			})

			It("lists the served model", func(ctx SpecContext) {
				c := client(t)
				page, err := c.Models.List(ctx)
				Expect(err).NotTo(HaveOccurred())
				var ids []string
				for _, m := range page.Data {
					ids = append(ids, m.ID)
					Expect(m.Object).To(BeEquivalentTo("model"))
				}
				Expect(ids).To(ContainElement(env.ModelName))
			}, SpecTimeout(30*time.Second))

			It("answers a chat completion with usage", func(ctx SpecContext) {
				c := client(t)
				resp, err := c.Chat.Completions.New(ctx, chatParams("Say hello.", 8))
				Expect(err).NotTo(HaveOccurred())
				Expect(resp.ID).To(HavePrefix("chatcmpl-"))
				Expect(resp.Choices).To(HaveLen(1))
				Expect(resp.Choices[0].Message.Content).NotTo(BeEmpty())
				Expect(resp.Choices[0].FinishReason).To(BeElementOf("stop", "length"))
				Expect(resp.Usage.CompletionTokens).To(BeNumerically(">", 0))
				Expect(resp.Usage.CompletionTokens).To(BeNumerically("<=", 8))
				Expect(resp.Usage.TotalTokens).To(Equal(resp.Usage.PromptTokens + resp.Usage.CompletionTokens))
			}, SpecTimeout(30*time.Second))

			It("streams chunk by chunk and ends with a usage chunk", func(ctx SpecContext) {
				c := client(t)
				p := chatParams("Tell me about uptime.", 12)
				p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
				stream := c.Chat.Completions.NewStreaming(ctx, p)
				defer stream.Close()
				var (
					acc        openai.ChatCompletionAccumulator
					chunks     int
					finish     string
					usageChunk bool
				)
				for stream.Next() {
					ch := stream.Current()
					acc.AddChunk(ch)
					chunks++
					Expect(ch.Object).To(BeEquivalentTo("chat.completion.chunk"))
					for _, choice := range ch.Choices {
						if choice.FinishReason != "" {
							finish = choice.FinishReason
						}
					}
					if ch.Usage.CompletionTokens > 0 {
						usageChunk = true
						Expect(ch.Choices).To(BeEmpty(), "the usage chunk carries no choices")
					}
				}
				Expect(stream.Err()).NotTo(HaveOccurred())
				Expect(chunks).To(BeNumerically(">", 2))
				Expect(finish).To(BeElementOf("stop", "length"))
				Expect(usageChunk).To(BeTrue(), "no usage chunk with stream_options.include_usage")
				Expect(acc.Choices).NotTo(BeEmpty())
				Expect(acc.Choices[0].Message.Content).NotTo(BeEmpty())
				Expect(acc.Usage.CompletionTokens).To(BeNumerically(">", 0))
			}, SpecTimeout(30*time.Second))

			It("refuses an unknown model with the error envelope", func(ctx SpecContext) {
				c := client(t)
				p := chatParams("hi", 4)
				p.Model = "no-such-model"
				_, err := c.Chat.Completions.New(ctx, p)
				var apiErr *openai.Error
				Expect(errors.As(err, &apiErr)).To(BeTrue(), "error %v is not an API error", err)
				if t.Role == stack.RoleGateway {
					Expect(apiErr.StatusCode).To(Equal(http.StatusBadRequest)) // LiteLLM: invalid model name
				} else {
					Expect(apiErr.StatusCode).To(Equal(http.StatusNotFound)) // vLLM: NotFoundError
				}
				Expect(apiErr.Message).To(ContainSubstring("no-such-model"))
				Expect(apiErr.Type).NotTo(BeEmpty())
			}, SpecTimeout(30*time.Second))

			It("refuses a bad key with 401", func(ctx SpecContext) {
				bad := t
				bad.Key = "sk-wrong"
				c := client(bad)
				_, err := c.Chat.Completions.New(ctx, chatParams("hi", 4))
				var apiErr *openai.Error
				Expect(errors.As(err, &apiErr)).To(BeTrue(), "error %v is not an API error", err)
				Expect(apiErr.StatusCode).To(Equal(http.StatusUnauthorized))
				body := apiErr.RawJSON()
				if t.Role == stack.RoleModel {
					// vLLM answers {"error":"Unauthorized"}, not the OpenAI
					// envelope; the client hands us the value of "error".
					Expect(body).To(MatchJSON(`"Unauthorized"`))
				} else {
					Expect(apiErr.Message).NotTo(BeEmpty())
				}
			}, SpecTimeout(30*time.Second))

			It("refuses malformed JSON with a 400 envelope", func(ctx SpecContext) {
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL+"/v1/chat/completions", strings.NewReader(`{"model": "x", "messages": [`))
				Expect(err).NotTo(HaveOccurred())
				req.Header.Set("Authorization", "Bearer "+t.Key)
				req.Header.Set("Content-Type", "application/json")
				resp, err := hc.Do(req)
				Expect(err).NotTo(HaveOccurred())
				defer resp.Body.Close()
				Expect(resp.StatusCode).To(Equal(http.StatusBadRequest))
				var env struct {
					Error struct {
						Message string          `json:"message"`
						Type    string          `json:"type"`
						Code    json.RawMessage `json:"code"`
					} `json:"error"`
				}
				b, _ := readAll(resp)
				Expect(json.Unmarshal(b, &env)).To(Succeed(), "body %s", b)
				Expect(env.Error.Message).NotTo(BeEmpty())
				Expect(env.Error.Type).NotTo(BeEmpty())
				// vLLM's code is the status as a number, LiteLLM's as a string.
				Expect(bytes.Trim(env.Error.Code, `"`)).To(BeEquivalentTo("400"))
			}, SpecTimeout(30*time.Second))
		})
	}
})

var _ = Describe("the golden prompt", func() {
	It("gives the same answer on every replica and through the gateway", func(ctx SpecContext) {
		const golden = "What is the recovery time objective of the quarterly drill?"
		answers := map[string]string{}
		for _, t := range env.Models {
			c := client(t)
			resp, err := c.Chat.Completions.New(ctx, chatParams(golden, 16))
			Expect(err).NotTo(HaveOccurred())
			answers[t.Name] = resp.Choices[0].Message.Content
		}
		Expect(answers).To(HaveLen(len(env.Models)))
		first := answers[env.Models[0].Name]
		Expect(first).NotTo(BeEmpty())
		for name, a := range answers {
			Expect(a).To(Equal(first), "replica %s differs", name)
		}
		c := client(env.Gateway)
		for i := 0; i < 4; i++ { // whichever replica the gateway picks
			resp, err := c.Chat.Completions.New(ctx, chatParams(golden, 16))
			Expect(err).NotTo(HaveOccurred())
			Expect(resp.Choices[0].Message.Content).To(Equal(first))
		}
		// A different prompt gives a different answer: the check can fail.
		c0 := client(env.Models[0])
		resp, err := c0.Chat.Completions.New(ctx, chatParams("Something else entirely.", 16))
		Expect(err).NotTo(HaveOccurred())
		Expect(resp.Choices[0].Message.Content).NotTo(Equal(first))
	}, SpecTimeout(time.Minute))
})

var _ = Describe("the gateway's x-litellm headers", func() {
	It("name the deployment, its api base, the call and the retries", func(ctx SpecContext) {
		seen := map[string]bool{}
		for i := 0; i < 12 && len(seen) < len(env.Models); i++ {
			var raw *http.Response
			c := client(env.Gateway, option.WithResponseInto(&raw))
			_, err := c.Chat.Completions.New(ctx, chatParams("headers", 2))
			Expect(err).NotTo(HaveOccurred())
			h := raw.Header
			id := h.Get("x-litellm-model-id")
			Expect(id).To(BeElementOf(modelNames()))
			seen[id] = true
			Expect(h.Get("x-litellm-model-api-base")).To(HavePrefix("http://"))
			Expect(h.Get("x-litellm-model-api-base")).To(HaveSuffix("/v1"))
			Expect(h.Get("x-litellm-call-id")).NotTo(BeEmpty())
			Expect(h.Get("x-litellm-model-group")).To(Equal(env.ModelName))
			Expect(h.Get("x-litellm-version")).NotTo(BeEmpty())
			Expect(h.Get("x-litellm-attempted-retries")).To(Equal("0"))
			Expect(h.Get("x-litellm-attempted-fallbacks")).To(Equal("0"))
			Expect(h.Get("x-litellm-response-duration-ms")).NotTo(BeEmpty())
		}
		Expect(seen).To(HaveLen(len(env.Models)), "the gateway never used some replicas in 12 requests")
	}, SpecTimeout(time.Minute))
})

func modelNames() []string {
	var out []string
	for _, m := range env.Models {
		out = append(out, m.Name)
	}
	return out
}

var _ = Describe("health endpoints", func() {
	It("model servers answer /health 200 with an empty body, and /version", func(ctx SpecContext) {
		for _, m := range env.Models {
			code, body, _ := getBody(ctx, m.URL+"/health")
			Expect(code).To(Equal(http.StatusOK), m.Name)
			Expect(body).To(BeEmpty())
			code, body, _ = getBody(ctx, m.URL+"/version")
			Expect(code).To(Equal(http.StatusOK))
			var v struct{ Version string }
			Expect(json.Unmarshal(body, &v)).To(Succeed())
			Expect(v.Version).NotTo(BeEmpty())
		}
	}, SpecTimeout(30*time.Second))

	It("the gateway answers liveliness, readiness (with the db) and an authenticated /health", func(ctx SpecContext) {
		code, body, _ := getBody(ctx, env.Gateway.URL+"/health/liveliness")
		Expect(code).To(Equal(http.StatusOK))
		Expect(string(body)).To(ContainSubstring("I'm alive!"))

		code, body, _ = getBody(ctx, env.Gateway.URL+"/health/readiness")
		Expect(code).To(Equal(http.StatusOK))
		var r struct {
			Status, DB     string
			LitellmVersion string `json:"litellm_version"`
		}
		Expect(json.Unmarshal(body, &r)).To(Succeed())
		Expect(r.Status).To(Equal("connected"))
		Expect(r.DB).To(Equal("connected"))
		Expect(r.LitellmVersion).NotTo(BeEmpty())

		code, _, _ = getBody(ctx, env.Gateway.URL+"/health")
		Expect(code).To(Equal(http.StatusUnauthorized), "/health needs the key")
		code, body, _ = getBody(ctx, env.Gateway.URL+"/health", "Authorization", "Bearer "+env.Gateway.Key)
		Expect(code).To(Equal(http.StatusOK))
		var h struct {
			HealthyCount   int `json:"healthy_count"`
			UnhealthyCount int `json:"unhealthy_count"`
		}
		Expect(json.Unmarshal(body, &h)).To(Succeed())
		Expect(h.HealthyCount).To(Equal(len(env.Models)))
		Expect(h.UnhealthyCount).To(BeZero())
	}, SpecTimeout(time.Minute))
})

// warm sends one request so counters and histograms have samples.
func warm(ctx context.Context, t target) {
	GinkgoHelper()
	c := client(t)
	_, err := c.Chat.Completions.New(ctx, chatParams("warm up", 3))
	Expect(err).NotTo(HaveOccurred())
}

// warmStream sends one streaming request (TTFT is measured on streams).
func warmStream(ctx context.Context, t target) {
	GinkgoHelper()
	c := client(t)
	stream := c.Chat.Completions.NewStreaming(ctx, chatParams("warm up stream", 3))
	defer stream.Close()
	for stream.Next() {
	}
	Expect(stream.Err()).NotTo(HaveOccurred())
}
